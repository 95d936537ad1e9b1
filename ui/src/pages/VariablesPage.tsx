/**
 * Variables (operators read them; admins set and delete). A secret variable's value is never shown, only
 * that it is set; an admin replaces it by typing a new value.
 */
import { useState, type FormEvent } from "react";
import { api, type VariableRecord } from "../api";
import { useSession } from "../auth";
import { EditableList } from "../components/EditableList";
import { Field, FormError, formErrors, noErrors, type FormErrors } from "../components/Field";
import { fmtTime } from "../format";
import { invalidateVariables, useListVariables } from "../queries/useListVariables";
import { OperatorsOnly } from "./ConnectionsPage";

export function VariablesPage() {
  const { user } = useSession();
  if (user.role !== "operator" && user.role !== "admin") return <OperatorsOnly what="Variables" />;
  return <Variables isAdmin={user.role === "admin"} />;
}

function Variables({ isAdmin }: { isAdmin: boolean }) {
  const list = useListVariables();
  return (
    <EditableList<VariableRecord>
      title="Variables"
      intro={
        <>
          JSON values tasks read with <code>ctx.variable(key)</code>. Secret ones are encrypted at rest and never shown.
        </>
      }
      addLabel="Set a variable"
      isAdmin={isAdmin}
      list={list}
      invalidate={() => void invalidateVariables()}
      testId="variables"
      columns={["Key", "Value", "Description", "Updated"]}
      empty="No variables yet."
      form={(existing, onDone) => <VariableForm key={existing?.key ?? "new"} existing={existing} onDone={onDone} />}
      row={(v, onEdit) => <VariableRow key={v.key} v={v} isAdmin={isAdmin} onEdit={onEdit} onChange={() => void invalidateVariables()} />}
    />
  );
}

function VariableRow({ v, isAdmin, onEdit, onChange }: { v: VariableRecord; isAdmin: boolean; onEdit: () => void; onChange: () => void }) {
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const remove = async () => {
    try {
      await api.deleteVariable(v.key);
      onChange();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <tr data-variable={v.key}>
      <td>{v.key}</td>
      <td>{v.isSecret ? <span className="muted">set (secret)</span> : <code className="small">{JSON.stringify(v.value)}</code>}</td>
      <td className="small">{v.description ?? ""}</td>
      <td className="small">{fmtTime(v.updatedAt)}</td>
      <td>
        {isAdmin && !confirm && (
          <div className="actions">
            <button type="button" onClick={onEdit}>
              {v.isSecret ? "Replace" : "Edit"}
            </button>
            <button type="button" onClick={() => setConfirm(true)}>
              Delete
            </button>
          </div>
        )}
        {confirm && (
          <div className="actions confirm">
            <span>Delete {v.key}?</span>
            <button type="button" className="danger" onClick={() => void remove()}>
              Yes, delete
            </button>
            <button type="button" onClick={() => setConfirm(false)}>
              Cancel
            </button>
          </div>
        )}
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
      </td>
    </tr>
  );
}

function VariableForm({ existing, onDone }: { existing: VariableRecord | null; onDone: () => void }) {
  const [key, setKey] = useState(existing?.key ?? "");
  const [value, setValue] = useState(existing && !existing.isSecret ? JSON.stringify(existing.value, null, 2) : "");
  const [isSecret, setIsSecret] = useState(existing?.isSecret ?? false);
  const [description, setDescription] = useState(existing?.description ?? "");
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setErrors(noErrors);
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      return setErrors({ fields: { value: 'not JSON: quote text ("like this"), or write a number, true/false, a list or an object' }, general: null });
    }
    setBusy(true);
    try {
      await api.putVariable(key.trim(), { value: parsed, isSecret, description: description || null });
      onDone();
    } catch (err) {
      setErrors(formErrors(err, ["key", "value", "isSecret", "description"]));
      setBusy(false);
    }
  };

  return (
    <form className="card" onSubmit={(e) => void submit(e)} aria-label={existing ? `Edit variable ${existing.key}` : "Set a variable"}>
      <h3 className="card-title">{existing ? `${existing.isSecret ? "Replace" : "Edit"} ${existing.key}` : "Set a variable"}</h3>
      <Field label="Key" error={errors.fields["key"]}>
        <input name="var-key" required disabled={existing !== null} value={key} onChange={(e) => setKey(e.target.value)} autoComplete="off" />
      </Field>
      <Field label={existing?.isSecret ? "New value (JSON; the current one is never shown)" : "Value (JSON)"} error={errors.fields["value"]}>
        <textarea name="var-value" rows={3} required value={value} onChange={(e) => setValue(e.target.value)} spellCheck={false} />
      </Field>
      <label className="check">
        <input name="var-secret" type="checkbox" checked={isSecret} onChange={(e) => setIsSecret(e.target.checked)} /> Secret (encrypted, never shown, masked in task logs)
      </label>
      <Field label="Description" error={errors.fields["description"]}>
        <input name="var-description" value={description} onChange={(e) => setDescription(e.target.value)} />
      </Field>
      <FormError errors={errors} />
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Save
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
