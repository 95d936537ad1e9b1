/** The app shell: restores the session (/auth/me), shows the login page or the header and the routed page. */
import { useCallback, useEffect, useMemo, useState } from "react";
import { api, setCsrfToken, setUnauthorizedHandler, type User } from "./api";
import { SessionContext, type Session } from "./auth";
import { Link, match, navigate, useLocation } from "./router";
import { Login } from "./pages/Login";
import { DagList } from "./pages/DagList";
import { DagPage } from "./pages/DagPage";
import { TriggerPage } from "./pages/TriggerPage";
import { BackfillPage } from "./pages/BackfillPage";
import { AssetsPage } from "./pages/AssetsPage";

export function App() {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const loc = useLocation();

  useEffect(() => {
    setUnauthorizedHandler(() => setUser(null));
    api.me().then(
      (r) => {
        setCsrfToken(r.csrfToken);
        setUser(r.user);
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
  const session = useMemo<Session | null>(() => (user ? { user, logout } : null), [user, logout]);

  if (user === undefined) return <div className="loading">Loading…</div>;
  if (!session) return <Login onLogin={setUser} />;

  return (
    <SessionContext.Provider value={session}>
      <header className="top">
        <Link to="/" className="brand">
          Sluice
        </Link>
        <nav>
          <Link to="/">DAGs</Link>
          <Link to="/assets">Assets</Link>
        </nav>
        <span className="spacer" />
        <span className="who" data-testid="current-user">
          {session.user.username} <span className="role">{session.user.role}</span>
        </span>
        <button type="button" className="link" onClick={logout}>
          Log out
        </button>
      </header>
      <main>{route(loc.path)}</main>
    </SessionContext.Provider>
  );
}

function route(path: string) {
  let m: Record<string, string> | null;
  if (path === "/" || path === "/dags") return <DagList />;
  if ((m = match("/dags/:dagId/trigger", path))) return <TriggerPage dagId={m.dagId!} />;
  if ((m = match("/dags/:dagId/backfill", path))) return <BackfillPage dagId={m.dagId!} />;
  if ((m = match("/dags/:dagId", path))) return <DagPage dagId={m.dagId!} />;
  if (path === "/assets") return <AssetsPage />;
  if ((m = match("/assets/:name", path))) return <AssetsPage name={m.name!} />;
  return (
    <div className="page">
      <h2>Not found</h2>
      <p>
        No page at <code>{path}</code>. <Link to="/">All DAGs</Link>
      </p>
    </div>
  );
}
