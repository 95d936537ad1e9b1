/** The app shell: restores the session (/auth/me), shows the login page or the header and the routed page. */
import { useCallback, useEffect, useMemo, useState, type ReactNode } from "react";
import { api, setCsrfToken, setUnauthorizedHandler, type User } from "./api";
import { SessionContext, type Session } from "./auth";
import { Link, navigate, pageFor, useLocation } from "./router";
import { Login } from "./pages/Login";

export function App() {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [notice, setNotice] = useState<string | null>(null);
  const loc = useLocation();

  useEffect(() => {
    setUnauthorizedHandler(() => setUser(null));
    api.me().then(
      (r) => {
        setCsrfToken(r.csrfToken);
        setUser({ ...r.user, grants: r.grants ?? [] });
      },
      () => setUser(null),
    );
    return () => setUnauthorizedHandler(null);
  }, []);

  const logout = useCallback(() => {
    void api
      .logout()
      .catch(() => undefined)
      .finally(() => {
        setCsrfToken(null);
        setUser(null);
        navigate("/", { replace: true });
      });
  }, []);
  const endSession = useCallback((message: string) => {
    setCsrfToken(null);
    setNotice(message);
    setUser(null);
    navigate("/", { replace: true });
  }, []);
  const onLogin = useCallback((u: User) => {
    setNotice(null);
    setUser(u);
    // the login answer has no grants: /auth/me has them
    api.me().then(
      (r) => setUser((cur) => (cur && cur.username === r.user.username ? { ...cur, grants: r.grants ?? [] } : cur)),
      () => undefined,
    );
  }, []);
  const session = useMemo<Session | null>(() => (user ? { user, logout, endSession } : null), [user, logout, endSession]);

  if (user === undefined) return <div className="loading">Loading…</div>;
  if (!session) return <Login onLogin={onLogin} notice={notice} />;

  return (
    <SessionContext.Provider value={session}>
      <header className="top">
        <Link to="/" className="brand">
          Sluice
        </Link>
        <nav>
          <NavLink to="/" path={loc.path} also={["/dags"]}>
            DAGs
          </NavLink>
          <NavLink to="/runs" path={loc.path} also={["/task-instances"]}>
            Runs
          </NavLink>
          <NavLink to="/assets" path={loc.path}>
            Assets
          </NavLink>
          <NavLink to="/experiments" path={loc.path}>
            Experiments
          </NavLink>
          <NavLink to="/models" path={loc.path}>
            Models
          </NavLink>
          <NavLink to="/status" path={loc.path}>
            Status
          </NavLink>
          <NavLink to="/dlq" path={loc.path}>
            Dead letters
          </NavLink>
          {(session.user.role === "operator" || session.user.role === "admin") && (
            <>
              <NavLink to="/connections" path={loc.path}>
                Connections
              </NavLink>
              <NavLink to="/variables" path={loc.path}>
                Variables
              </NavLink>
            </>
          )}
          <NavLink to="/tokens" path={loc.path} label="API tokens">
            Tokens
          </NavLink>
          <NavLink to="/audit" path={loc.path} label="Audit log">
            Audit
          </NavLink>
          {session.user.role === "admin" && (
            <NavLink to="/users" path={loc.path}>
              Users
            </NavLink>
          )}
          {session.user.role === "admin" && (
            <NavLink to="/grants" path={loc.path}>
              Grants
            </NavLink>
          )}
        </nav>
        <span className="spacer" />
        <span className="who" data-testid="current-user">
          {session.user.username} <span className="role">{session.user.role}</span>
        </span>
        <NavLink to="/password" path={loc.path} label="Change password">
          Password
        </NavLink>
        <button type="button" className="link" onClick={logout}>
          Log out
        </button>
      </header>
      <main>{route(loc.path)}</main>
    </SessionContext.Provider>
  );
}

/** A header link, marked current on its page (and, for DAGs, below it). */
function NavLink({ to, path, also = [], label, children }: { to: string; path: string; also?: string[]; label?: string; children: ReactNode }) {
  const prefixes = [to, ...also].filter((p) => p !== "/");
  const active = path === to || prefixes.some((p) => path === p || path.startsWith(`${p}/`));
  return (
    <Link to={to} className={active ? "active" : undefined} aria-current={active ? "page" : undefined} aria-label={label} title={label}>
      {children}
    </Link>
  );
}

function route(path: string) {
  const page = pageFor(path);
  if (page !== null) return page;
  return (
    <div className="page">
      <h2>Not found</h2>
      <p>
        No page at <code>{path}</code>. <Link to="/">All DAGs</Link>
      </p>
    </div>
  );
}
