/**
 * Users (admins only): the list with roles, create a user, change a role, reset a password, delete (with
 * a confirm step). Server errors (409 duplicate, 400 field errors) are shown next to their field.
 */
import { useState, type FormEvent } from "react";
import { api, type Role, type UserRecord } from "../api";
import { useSession } from "../auth";
import { ErrorBox } from "../components/ErrorBox";
import { Field, FormError, formErrors, noErrors, type FormErrors } from "../components/Field";
import { fmtTime } from "../format";
import { invalidateUsers, useListUsers } from "../queries/useListUsers";

/** Global roles, lowest first; `none`: only what grants give (the Grants page). */
export const ROLES: Role[] = ["none", "viewer", "operator", "admin"];

export function AdminsOnly() {
  return (
    <div className="page narrow">
      <h2>Admins only</h2>
      <p className="error" role="alert" data-testid="admins-only">
        This page is for admins only. Ask an admin if you need a user created or a role changed.
      </p>
    </div>
  );
}

export function UsersPage() {
  const { user } = useSession();
  if (user.role !== "admin") return <AdminsOnly />;
  return <Users me={user.username} />;
}

function Users({ me }: { me: string }) {
  const list = useListUsers();
  return (
    <div className="page narrow">
      <h2>Users</h2>
      <CreateUser onCreated={() => void invalidateUsers()} />
      <h3>All users</h3>
      {list.error && <ErrorBox error={list.error} />}
      <table className="list" data-testid="users">
        <thead>
          <tr>
            <th>Username</th>
            <th>Role</th>
            <th>Created</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.data?.items.map((u) => (
            <UserRow key={u.username} u={u} isMe={u.username === me} onChange={() => void invalidateUsers()} />
          ))}
        </tbody>
      </table>
      {list.isPending && <p className="muted">Loading…</p>}
    </div>
  );
}

function CreateUser({ onCreated }: { onCreated: () => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setErrors(noErrors);
    setCreated(null);
    try {
      const u = await api.createUser({ username, password, role });
      setCreated(`User ${u.username} created as ${u.role}.`);
      setUsername("");
      setPassword("");
      setRole("viewer");
      onCreated();
    } catch (err) {
      setErrors(formErrors(err, ["username", "password", "role"], "username"));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card" onSubmit={(e) => void submit(e)} aria-label="Create a user">
      <h3 className="card-title">Create a user</h3>
      <Field label="Username" error={errors.fields["username"]}>
        <input name="new-username" autoComplete="off" required value={username} onChange={(e) => setUsername(e.target.value)} />
      </Field>
      <Field label="Password" error={errors.fields["password"]}>
        <input name="new-password" type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
      </Field>
      <Field label="Role" error={errors.fields["role"]}>
        <select name="new-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </Field>
      <FormError errors={errors} />
      {created && (
        <p className="ok" role="status">
          {created}
        </p>
      )}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Create user
        </button>
      </div>
    </form>
  );
}

function UserRow({ u, isMe, onChange }: { u: UserRecord; isMe: boolean; onChange: () => void }) {
  const [mode, setMode] = useState<"idle" | "password" | "delete">("idle");
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);

  const act = async (fn: () => Promise<unknown>, done: string) => {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      await fn();
      setNotice(done);
      setMode("idle");
      setPassword("");
      onChange();
    } catch (err) {
      const e = formErrors(err, ["password", "role"]);
      setError(e.general ?? Object.values(e.fields)[0] ?? "failed");
    } finally {
      setBusy(false);
    }
  };

  return (
    <tr data-user={u.username}>
      <td>
        {u.username}
        {isMe && <span className="muted small"> (you)</span>}
      </td>
      <td>
        <select aria-label={`Role of ${u.username}`} value={u.role} disabled={busy} onChange={(e) => void act(() => api.updateUser(u.username, { role: e.target.value as Role }), `Role changed to ${e.target.value}.`)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </td>
      <td className="small">{fmtTime(u.createdAt)}</td>
      <td>
        {mode === "idle" && (
          <div className="actions">
            <button type="button" onClick={() => setMode("password")}>
              Reset password
            </button>
            <button type="button" onClick={() => setMode("delete")}>
              Delete
            </button>
          </div>
        )}
        {mode === "password" && (
          <form
            className="actions"
            aria-label={`New password for ${u.username}`}
            onSubmit={(e) => {
              e.preventDefault();
              void act(() => api.updateUser(u.username, { password }), "Password reset; their sessions ended.");
            }}
          >
            <input type="password" aria-label={`New password for ${u.username}`} autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
            <button type="submit" className="primary" disabled={busy}>
              Set password
            </button>
            <button type="button" onClick={() => setMode("idle")}>
              Cancel
            </button>
          </form>
        )}
        {mode === "delete" && (
          <div className="actions confirm">
            <span>
              Delete {u.username}
              {isMe ? " (yourself)" : ""}? Their sessions end and their tokens are revoked.
            </span>
            <button type="button" className="danger" disabled={busy} onClick={() => void act(() => api.deleteUser(u.username), "Deleted.")}>
              Yes, delete
            </button>
            <button type="button" onClick={() => setMode("idle")}>
              Cancel
            </button>
          </div>
        )}
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
        {notice && (
          <p className="ok small" role="status">
            {notice}
          </p>
        )}
      </td>
    </tr>
  );
}
