/**
 * API tokens: your own (admins see everyone's, per the API), create one (name, role up to the highest you
 * have, or an event scope) — the token is shown once, with a copy button — and revoke (with a confirm step).
 */
import { useRef, useState, type FormEvent } from "react";
import { api, type ApiToken, type Role } from "../api";
import { useSession } from "../auth";
import { ErrorBox } from "../components/ErrorBox";
import { Field, FormError, formErrors, noErrors, type FormErrors } from "../components/Field";
import { fmtTime } from "../format";
import { invalidateTokens, useListTokens } from "../queries/useListTokens";
import { ROLES } from "./UsersPage";

const rank = (r: Role) => ROLES.indexOf(r);

export function TokensPage() {
  const { user } = useSession();
  const list = useListTokens();
  const isAdmin = user.role === "admin";
  return (
    <div className="page narrow">
      <h2>API tokens</h2>
      <p className="muted">
        Scripts send a token as <code>Authorization: Bearer &lt;token&gt;</code>. A token acts with the lower of its own role and its owner&apos;s current role, on each DAG. An event
        token (scope <code>events:&lt;name glob&gt;</code>) may only send matching events to <code>POST /api/v1/events/&lt;name&gt;</code>.
      </p>
      <CreateToken myRole={(user.grants ?? []).reduce<Role>((best, g) => (rank(g.role) > rank(best) ? g.role : best), user.role)} onCreated={() => void invalidateTokens()} />
      <h3>{isAdmin ? "All tokens" : "Your tokens"}</h3>
      {list.error && <ErrorBox error={list.error} />}
      <table className="list" data-testid="tokens">
        <thead>
          <tr>
            <th>Name</th>
            {isAdmin && <th>User</th>}
            <th>Role</th>
            <th>Scope</th>
            <th>Created</th>
            <th>Last used</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.data?.items.map((t) => (
            <TokenRow key={String(t.id)} t={t} showUser={isAdmin} onRevoked={() => void invalidateTokens()} />
          ))}
        </tbody>
      </table>
      {list.data && list.data.items.length === 0 && <p className="muted">No tokens yet.</p>}
    </div>
  );
}

function CreateToken({ myRole, onCreated }: { myRole: Role; onCreated: () => void }) {
  const allowed = ROLES.filter((r) => rank(r) <= rank(myRole));
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>(myRole);
  const [scope, setScope] = useState("");
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<{ name: string; what: string; token: string } | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setErrors(noErrors);
    setCreated(null);
    try {
      const t = await api.createToken(scope.trim() ? { name, scope: scope.trim() } : { name, role });
      setCreated({ name: t.name, what: t.scope ?? t.role, token: t.token });
      setName("");
      setScope("");
      onCreated();
    } catch (err) {
      setErrors(formErrors(err, ["name", "role", "scope"], "name"));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card" onSubmit={(e) => void submit(e)} aria-label="Create a token">
      <h3 className="card-title">Create a token</h3>
      <Field label="Token name" error={errors.fields["name"]}>
        <input name="token-name" autoComplete="off" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
      </Field>
      <Field label="Token role" error={errors.fields["role"]}>
        <select name="token-role" value={role} onChange={(e) => setRole(e.target.value as Role)} disabled={allowed.length < 2 || scope.trim() !== ""}>
          {allowed.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Event scope (optional: an event token)" error={errors.fields["scope"]}>
        <input name="token-scope" autoComplete="off" maxLength={210} placeholder="events:orders.*" value={scope} onChange={(e) => setScope(e.target.value)} />
      </Field>
      <FormError errors={errors} />
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Create token
        </button>
      </div>
      {created && <NewToken {...created} onDone={() => setCreated(null)} />}
    </form>
  );
}

/** The new token, once: the server keeps only its hash. */
function NewToken({ name, what, token, onDone }: { name: string; what: string; token: string; onDone: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(token);
      setCopied("Copied to the clipboard.");
    } catch {
      // no clipboard permission (plain http, headless): select it so Ctrl+C copies it
      input.current?.select();
      setCopied("Selected: press Ctrl+C (⌘C) to copy.");
    }
  };
  return (
    <div className="new-token" data-testid="new-token" role="status">
      <p>
        <strong>
          Token “{name}” ({what}) created. Copy it now: you will not see it again.
        </strong>
      </p>
      <div className="actions">
        <input ref={input} readOnly className="token-value" aria-label="New token" value={token} onFocus={(e) => e.currentTarget.select()} />
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" onClick={onDone}>
          Done
        </button>
      </div>
      {copied && <p className="small muted">{copied}</p>}
    </div>
  );
}

function TokenRow({ t, showUser, onRevoked }: { t: ApiToken; showUser: boolean; onRevoked: () => void }) {
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const revoke = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.revokeToken(t.id);
      onRevoked();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
      setConfirm(false);
    }
  };
  return (
    <tr data-token={t.name}>
      <td>{t.name}</td>
      {showUser && <td>{t.username}</td>}
      <td>{t.role}</td>
      <td className="small">{t.scope ?? ""}</td>
      <td className="small">{fmtTime(t.createdAt)}</td>
      <td className="small">{t.lastUsedAt ? fmtTime(t.lastUsedAt) : "never"}</td>
      <td>
        {confirm ? (
          <div className="actions confirm">
            <span>Revoke “{t.name}”? Scripts using it stop working.</span>
            <button type="button" className="danger" disabled={busy} onClick={() => void revoke()}>
              Yes, revoke
            </button>
            <button type="button" onClick={() => setConfirm(false)}>
              Cancel
            </button>
          </div>
        ) : (
          <button type="button" onClick={() => setConfirm(true)}>
            Revoke
          </button>
        )}
        {error && <ErrorBox error={error} />}
      </td>
    </tr>
  );
}
