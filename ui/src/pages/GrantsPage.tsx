/**
 * Grants (admins only): a role on the DAGs a selector picks (dag:<glob>, tag:<tag>, owner:<name>), for a
 * user or an API token. Add (a selector that matches no DAG yet is added, with the server's warning
 * shown), list, delete (with a confirm step). Everything shown is text: React escapes it.
 */
import { useState, type FormEvent } from "react";
import { api, type Grant, type Role } from "../api";
import { useSession } from "../auth";
import { ErrorBox } from "../components/ErrorBox";
import { Field, FormError, formErrors, noErrors, type FormErrors } from "../components/Field";
import { fmtTime } from "../format";
import { invalidateGrants, useListGrants } from "../queries/useListGrants";
import { AdminsOnly } from "./UsersPage";

const GRANT_ROLES: Role[] = ["viewer", "operator", "admin"];

export function GrantsPage() {
  const { user } = useSession();
  if (user.role !== "admin") return <AdminsOnly />;
  return <Grants />;
}

function Grants() {
  const list = useListGrants();
  return (
    <div className="page narrow">
      <h2>Grants</h2>
      <p className="muted">
        A grant gives a user or an API token a role on some DAGs, on top of their global role: <code>dag:etl_*</code> (ids, * and ? as wildcards), <code>tag:finance</code>,{" "}
        <code>owner:ana</code>. A user whose role is <em>none</em> sees only the DAGs granted to them.
      </p>
      <AddGrant onAdded={() => void invalidateGrants()} />
      <h3>All grants</h3>
      {list.error && <ErrorBox error={list.error} />}
      <table className="list" data-testid="grants">
        <thead>
          <tr>
            <th>Who</th>
            <th>Role</th>
            <th>DAGs</th>
            <th>Created</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.data?.items.map((g) => (
            <GrantRow key={g.id} g={g} onDeleted={() => void invalidateGrants()} />
          ))}
        </tbody>
      </table>
      {list.data && list.data.items.length === 0 && <p className="muted">No grants yet.</p>}
    </div>
  );
}

function AddGrant({ onAdded }: { onAdded: () => void }) {
  const [kind, setKind] = useState<"user" | "token">("user");
  const [principal, setPrincipal] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [selector, setSelector] = useState("");
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  const [added, setAdded] = useState<{ text: string; warnings: string[] } | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setErrors(noErrors);
    setAdded(null);
    try {
      const g = await api.addGrant({ [kind]: principal, role, selector });
      setAdded({ text: `Granted ${kind} ${principal} ${g.role} on ${g.selector}.`, warnings: g.warnings });
      setPrincipal("");
      setSelector("");
      onAdded();
    } catch (err) {
      const e2 = formErrors(err, ["user", "token", "role", "selector"], "selector");
      // the principal field is one input whichever kind it names
      const who = e2.fields["user"] ?? e2.fields["token"];
      setErrors(who ? { ...e2, fields: { ...e2.fields, principal: who } } : e2);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card" onSubmit={(e) => void submit(e)} aria-label="Add a grant">
      <h3 className="card-title">Add a grant</h3>
      <Field label="For">
        <select name="grant-kind" value={kind} onChange={(e) => setKind(e.target.value as "user" | "token")}>
          <option value="user">user</option>
          <option value="token">API token (id)</option>
        </select>
      </Field>
      <Field label={kind === "user" ? "Username" : "Token id"} error={errors.fields["principal"]}>
        <input name="grant-principal" autoComplete="off" required value={principal} onChange={(e) => setPrincipal(e.target.value)} />
      </Field>
      <Field label="Role on those DAGs" error={errors.fields["role"]}>
        <select name="grant-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {GRANT_ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </Field>
      <Field label="DAGs (selector)" error={errors.fields["selector"]}>
        <input name="grant-selector" autoComplete="off" required placeholder="dag:etl_*  tag:finance  owner:ana" value={selector} onChange={(e) => setSelector(e.target.value)} />
      </Field>
      <FormError errors={errors} />
      {added && (
        <div role="status" data-testid="grant-added">
          <p className="ok">{added.text}</p>
          {added.warnings.map((w) => (
            <p key={w} className="warning small">
              Warning: {w}
            </p>
          ))}
        </div>
      )}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Add grant
        </button>
      </div>
    </form>
  );
}

function GrantRow({ g, onDeleted }: { g: Grant; onDeleted: () => void }) {
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const who = g.user !== undefined ? `user ${g.user}` : `token ${g.token ?? ""}`;
  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.deleteGrant(g.id);
      onDeleted();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
      setConfirm(false);
    }
  };
  return (
    <tr data-grant={g.id}>
      <td>{who}</td>
      <td>{g.role}</td>
      <td>
        <code>{g.selector}</code>
      </td>
      <td className="small">
        {fmtTime(g.createdAt)} by {g.createdBy}
      </td>
      <td>
        {confirm ? (
          <div className="actions confirm">
            <span>Delete this grant? {who} loses this access at once.</span>
            <button type="button" className="danger" disabled={busy} onClick={() => void remove()}>
              Yes, delete
            </button>
            <button type="button" onClick={() => setConfirm(false)}>
              Cancel
            </button>
          </div>
        ) : (
          <button type="button" onClick={() => setConfirm(true)}>
            Delete
          </button>
        )}
        {error && <ErrorBox error={error} />}
      </td>
    </tr>
  );
}
