/**
 * `/attempts/:attemptId`: an attempt named by its id alone (a cache hit's `cachedFrom`) opens the task
 * panel of its run on the DAG page; the id is looked up (GET /attempts/:attemptId) and the URL replaced.
 */
import { useEffect } from "react";
import { ErrorBox } from "../components/ErrorBox";
import { useGetAttempt } from "../queries/useGetAttempt";
import { navigate } from "../router";

export function attemptLink(a: { dagId: string; runId: string; taskId: string; mapIndex: number }): string {
  return `/dags/${encodeURIComponent(a.dagId)}?run=${encodeURIComponent(a.runId)}&task=${encodeURIComponent(a.taskId)}${a.mapIndex >= 0 ? `&map=${a.mapIndex}` : ""}`;
}

export function AttemptPage({ attemptId }: { attemptId: string }) {
  const a = useGetAttempt(attemptId);
  useEffect(() => {
    if (a.data) navigate(attemptLink(a.data), { replace: true });
  }, [a.data]);
  if (a.error) return <div className="page"><ErrorBox error={a.error} /></div>;
  return <div className="page muted">Opening attempt {attemptId}…</div>;
}
