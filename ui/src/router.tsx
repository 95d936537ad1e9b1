/**
 * A tiny history router: the UI has a handful of routes, so a path matcher and a `navigate` function do
 * the job without a routing library. The server answers every non-API path with index.html. The routes
 * are data (`routes`, below): a pattern and the page it renders.
 */
import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from "react";
import { AssetsPage } from "./pages/AssetsPage";
import { AttemptPage } from "./pages/AttemptPage";
import { AuditPage } from "./pages/AuditPage";
import { BackfillPage } from "./pages/BackfillPage";
import { ConnectionsPage } from "./pages/ConnectionsPage";
import { Dashboard } from "./pages/Dashboard";
import { DagList } from "./pages/DagList";
import { DagPage } from "./pages/DagPage";
import { DeadLettersPage } from "./pages/DeadLettersPage";
import { ExperimentPage } from "./pages/ExperimentPage";
import { ExperimentsPage } from "./pages/ExperimentsPage";
import { ModelsPage } from "./pages/ModelsPage";
import { GrantsPage } from "./pages/GrantsPage";
import { PasswordPage } from "./pages/PasswordPage";
import { RunPage } from "./pages/RunPage";
import { RunsPage } from "./pages/RunsPage";
import { StatusPage } from "./pages/StatusPage";
import { TaskInstancesPage } from "./pages/TaskInstancesPage";
import { TokensPage } from "./pages/TokensPage";
import { TriggerPage } from "./pages/TriggerPage";
import { UsersPage } from "./pages/UsersPage";
import { VariablesPage } from "./pages/VariablesPage";

const CHANGE = "sluice:navigate";

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (opts.replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  window.dispatchEvent(new Event(CHANGE));
}

export interface Location {
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const on = () => setLoc(current());
    window.addEventListener("popstate", on);
    window.addEventListener(CHANGE, on);
    return () => {
      window.removeEventListener("popstate", on);
      window.removeEventListener(CHANGE, on);
    };
  }, []);
  return loc;
}

/** The URL with some query parameters changed (null removes one). */
export function withQuery(loc: Location, changes: Record<string, string | null>): string {
  const q = new URLSearchParams(loc.query);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  return s ? `${loc.path}?${s}` : loc.path;
}

/** Match `/dags/:dagId/trigger` against a path; params are decoded. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split("/");
  const s = path.replace(/\/+$/, "").split("/");
  if (p.length !== s.length) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    const a = p[i]!;
    const b = s[i]!;
    if (a.startsWith(":")) {
      if (!b) return null;
      try {
        out[a.slice(1)] = decodeURIComponent(b);
      } catch {
        return null;
      }
    } else if (a !== b) return null;
  }
  return out;
}

export function Link({ to, replace, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string; replace?: boolean }) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    rest.onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to, { replace });
  };
  return <a {...rest} href={to} onClick={onClick} />;
}

/** A route: a path pattern (`:name` parts are params) and the page for its params. */
interface RouteDef {
  path: string;
  render: (p: Record<string, string>) => ReactNode;
}

/** Every page of the UI, first match wins. */
export const routes: readonly RouteDef[] = [
  {
    path: "/",
    render: () => (
      <>
        <div className="page">
          <Dashboard />
        </div>
        <DagList />
      </>
    ),
  },
  { path: "/dags", render: () => <DagList /> },
  { path: "/dags/:dagId/trigger", render: (p) => <TriggerPage dagId={p["dagId"]!} /> },
  { path: "/dags/:dagId/backfill", render: (p) => <BackfillPage dagId={p["dagId"]!} /> },
  { path: "/dags/:dagId", render: (p) => <DagPage dagId={p["dagId"]!} /> },
  { path: "/runs", render: () => <RunsPage /> },
  { path: "/runs/:runId", render: (p) => <RunPage runId={p["runId"]!} /> },
  { path: "/task-instances", render: () => <TaskInstancesPage /> },
  { path: "/attempts/:attemptId", render: (p) => <AttemptPage attemptId={p["attemptId"]!} /> },
  { path: "/experiments", render: () => <ExperimentsPage /> },
  { path: "/experiments/:name", render: (p) => <ExperimentPage name={p["name"]!} /> },
  { path: "/assets", render: () => <AssetsPage /> },
  { path: "/assets/:name", render: (p) => <AssetsPage name={p["name"]!} /> },
  { path: "/users", render: () => <UsersPage /> },
  { path: "/tokens", render: () => <TokensPage /> },
  { path: "/grants", render: () => <GrantsPage /> },
  { path: "/password", render: () => <PasswordPage /> },
  { path: "/status", render: () => <StatusPage /> },
  { path: "/audit", render: () => <AuditPage /> },
  { path: "/dlq", render: () => <DeadLettersPage /> },
  { path: "/models", render: () => <ModelsPage /> },
  { path: "/models/:name", render: (p) => <ModelsPage name={p["name"]!} /> },
  { path: "/connections", render: () => <ConnectionsPage /> },
  { path: "/variables", render: () => <VariablesPage /> },
];

/** The page for a path, or null (not found). */
export function pageFor(path: string): ReactNode | null {
  for (const r of routes) {
    const m = r.path === "/" ? (path === "/" ? {} : null) : match(r.path, path);
    if (m) return r.render(m);
  }
  return null;
}
