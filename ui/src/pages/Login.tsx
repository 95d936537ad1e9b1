/** The login form: POST /auth/login, then the app loads the user's pages. */
import { useState, type FormEvent } from "react";
import { api, ApiError, setCsrfToken, type User } from "../api";

export function Login({ onLogin, notice }: { onLogin: (u: User) => void; notice?: string | null }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await api.login(username, password);
      setCsrfToken(r.csrfToken);
      onLogin(r.user);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? "Wrong username or password." : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="login">
      <form onSubmit={submit} className="card" aria-label="Log in">
        <h1>Sluice</h1>
        {notice && (
          <p className="notice" role="status" data-testid="login-notice">
            {notice}
          </p>
        )}
        <label>
          Username
          <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} autoFocus required />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Log in
        </button>
      </form>
    </div>
  );
}
