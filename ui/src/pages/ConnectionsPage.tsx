/**
 * Connections (operators read and test them; admins add, edit and delete). A password or extra is never
 * shown: the API only says whether one is set. Editing leaves it as it is unless the admin types a new
 * one (or ticks "clear").
 */
import { useState, type FormEvent } from "react";
import { api, type ConnectionBody, type ConnectionRecord } from "../api";
import { useSession } from "../auth";
import { EditableList } from "../components/EditableList";
import { Field, FormError, formErrors, noErrors, type FormErrors } from "../components/Field";
import { fmtTime } from "../format";
import { invalidateConnections, useListConnections } from "../queries/useListConnections";

export function OperatorsOnly({ what }: { what: string }) {
  return (
    <div className="page narrow">
      <h2>{what}</h2>
      <p className="error" role="alert" data-testid="operators-only">
        This page is for operators and admins.
      </p>
    </div>
  );
}

export function ConnectionsPage() {
  const { user } = useSession();
  if (user.role !== "operator" && user.role !== "admin") return <OperatorsOnly what="Connections" />;
  return <Connections isAdmin={user.role === "admin"} />;
}

function Connections({ isAdmin }: { isAdmin: boolean }) {
  const list = useListConnections();
  return (
    <EditableList<ConnectionRecord>
      title="Connections"
      intro={
        <>
          Tasks read them with <code>ctx.connection(id)</code>; shell and Python tasks declare <code>connections: [id]</code>. Passwords and extras are encrypted at
          rest and never shown. Connections set in the environment (<code>SLUICE_CONN_&lt;ID&gt;</code>) or the secrets folder are not listed here.
        </>
      }
      addLabel="Add a connection"
      isAdmin={isAdmin}
      list={list}
      invalidate={() => void invalidateConnections()}
      testId="connections"
      columns={["Id", "Type", "Host", "Port", "Login", "Schema", "Password", "Extra", "Description", "Updated"]}
      empty="No connections in the store yet."
      form={(existing, onDone) => <ConnectionForm key={existing?.id ?? "new"} existing={existing} onDone={onDone} />}
      row={(c, onEdit) => <ConnectionRow key={c.id} c={c} isAdmin={isAdmin} onEdit={onEdit} onChange={() => void invalidateConnections()} />}
    />
  );
}

function ConnectionRow({ c, isAdmin, onEdit, onChange }: { c: ConnectionRecord; isAdmin: boolean; onEdit: () => void; onChange: () => void }) {
  const [mode, setMode] = useState<"idle" | "delete">("idle");
  const [result, setResult] = useState<{ ok: boolean | null; message: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const test = async () => {
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      setResult(await api.testConnection(c.id));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.deleteConnection(c.id);
      onChange();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      setBusy(false);
    }
  };

  return (
    <tr data-connection={c.id}>
      <td>{c.id}</td>
      <td>{c.type}</td>
      <td>{c.host ?? ""}</td>
      <td>{c.port ?? ""}</td>
      <td>{c.login ?? ""}</td>
      <td>{c.schema ?? ""}</td>
      <td data-testid="password-state">{c.passwordSet ? "set" : "—"}</td>
      <td>{c.extraSet ? "set" : "—"}</td>
      <td className="small">{c.description ?? ""}</td>
      <td className="small">{fmtTime(c.updatedAt)}</td>
      <td>
        {mode === "idle" && (
          <div className="actions">
            <button type="button" disabled={busy} onClick={() => void test()}>
              Test
            </button>
            {isAdmin && (
              <>
                <button type="button" onClick={onEdit}>
                  Edit
                </button>
                <button type="button" onClick={() => setMode("delete")}>
                  Delete
                </button>
              </>
            )}
          </div>
        )}
        {mode === "delete" && (
          <div className="actions confirm">
            <span>Delete {c.id}? Tasks that use it will fail.</span>
            <button type="button" className="danger" disabled={busy} onClick={() => void remove()}>
              Yes, delete
            </button>
            <button type="button" onClick={() => setMode("idle")}>
              Cancel
            </button>
          </div>
        )}
        {result && (
          <p className={result.ok === false ? "field-error" : result.ok ? "ok small" : "muted small"} role="status" data-testid="test-result">
            {result.message}
          </p>
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

const FIELDS = ["id", "type", "host", "port", "login", "schema", "password", "extra", "description"];

function ConnectionForm({ existing, onDone }: { existing: ConnectionRecord | null; onDone: () => void }) {
  const [id, setId] = useState(existing?.id ?? "");
  const [type, setType] = useState(existing?.type ?? "postgres");
  const [host, setHost] = useState(existing?.host ?? "");
  const [port, setPort] = useState(existing?.port != null ? String(existing.port) : "");
  const [login, setLogin] = useState(existing?.login ?? "");
  const [schema, setSchema] = useState(existing?.schema ?? "");
  const [description, setDescription] = useState(existing?.description ?? "");
  const [password, setPassword] = useState("");
  const [clearPassword, setClearPassword] = useState(false);
  const [extra, setExtra] = useState("");
  const [clearExtra, setClearExtra] = useState(false);
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setErrors(noErrors);
    const body: ConnectionBody = { type: type.trim(), host: host || null, login: login || null, schema: schema || null, description: description || null };
    if (port.trim() !== "") {
      const n = Number(port);
      if (!Number.isInteger(n) || n < 1 || n > 65535) return setErrors({ fields: { port: "a port number (1-65535)" }, general: null });
      body.port = n;
    } else body.port = null;
    // left empty on an edit: the stored secret stays (the form never had it)
    if (password !== "") body.password = password;
    else if (clearPassword || !existing) body.password = null;
    if (extra.trim() !== "") {
      let parsed: unknown;
      try {
        parsed = JSON.parse(extra);
      } catch {
        return setErrors({ fields: { extra: "not JSON: write an object, e.g. {\"sslmode\": \"require\"}" }, general: null });
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return setErrors({ fields: { extra: "must be a JSON object" }, general: null });
      body.extra = parsed as Record<string, unknown>;
    } else if (clearExtra || !existing) body.extra = null;
    setBusy(true);
    try {
      await api.putConnection(id.trim(), body);
      onDone();
    } catch (err) {
      setErrors(formErrors(err, FIELDS, "id"));
      setBusy(false);
    }
  };

  return (
    <form className="card" onSubmit={(e) => void submit(e)} aria-label={existing ? `Edit connection ${existing.id}` : "Add a connection"}>
      <h3 className="card-title">{existing ? `Edit ${existing.id}` : "Add a connection"}</h3>
      <Field label="Id" error={errors.fields["id"]}>
        <input name="conn-id" required disabled={existing !== null} value={id} onChange={(e) => setId(e.target.value)} autoComplete="off" />
      </Field>
      <Field label="Type" error={errors.fields["type"]}>
        <input name="conn-type" required value={type} onChange={(e) => setType(e.target.value)} list="conn-types" autoComplete="off" />
        <datalist id="conn-types">
          {["postgres", "http", "https", "sqlite", "mysql", "aws", "redis"].map((t) => (
            <option key={t} value={t} />
          ))}
        </datalist>
      </Field>
      <Field label="Host" error={errors.fields["host"]}>
        <input name="conn-host" value={host} onChange={(e) => setHost(e.target.value)} autoComplete="off" />
      </Field>
      <Field label="Port" error={errors.fields["port"]}>
        <input name="conn-port" inputMode="numeric" value={port} onChange={(e) => setPort(e.target.value)} autoComplete="off" />
      </Field>
      <Field label="Login" error={errors.fields["login"]}>
        <input name="conn-login" value={login} onChange={(e) => setLogin(e.target.value)} autoComplete="off" />
      </Field>
      <Field label={existing?.passwordSet ? "Password (set: leave empty to keep it)" : "Password"} error={errors.fields["password"]}>
        <input name="conn-password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
      </Field>
      {existing?.passwordSet && (
        <label className="check">
          <input type="checkbox" checked={clearPassword} onChange={(e) => setClearPassword(e.target.checked)} /> Clear the password
        </label>
      )}
      <Field label="Schema (database)" error={errors.fields["schema"]}>
        <input name="conn-schema" value={schema} onChange={(e) => setSchema(e.target.value)} autoComplete="off" />
      </Field>
      <Field label={existing?.extraSet ? "Extra JSON (set: leave empty to keep it)" : "Extra JSON (encrypted)"} error={errors.fields["extra"]}>
        <textarea name="conn-extra" rows={3} value={extra} onChange={(e) => setExtra(e.target.value)} spellCheck={false} />
      </Field>
      {existing?.extraSet && (
        <label className="check">
          <input type="checkbox" checked={clearExtra} onChange={(e) => setClearExtra(e.target.checked)} /> Clear the extra
        </label>
      )}
      <Field label="Description" error={errors.fields["description"]}>
        <input name="conn-description" value={description} onChange={(e) => setDescription(e.target.value)} />
      </Field>
      <FormError errors={errors} />
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {existing ? "Save" : "Add connection"}
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
