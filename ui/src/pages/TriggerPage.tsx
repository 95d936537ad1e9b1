/** Trigger a run: the params form from the DAG's schema, an optional logical date, client and server validation. */
import { useEffect, useState, type FormEvent } from "react";
import { api, ApiError, type JsonSchema } from "../api";
import { useCanOperate } from "../auth";
import { ErrorBox } from "../components/ErrorBox";
import { initialValues, SchemaForm, validate, type FormValues } from "../components/SchemaForm";
import { useData } from "../hooks";
import { Link, navigate } from "../router";

export function TriggerPage({ dagId }: { dagId: string }) {
  const canOperate = useCanOperate();
  const dag = useData(() => api.dag(dagId), `dag|${dagId}`);
  const params = (dag.data?.params ?? null) as JsonSchema | null;
  const schema = params?.properties ? params : null;
  const [values, setValues] = useState<FormValues | null>(null);
  const [rawJson, setRawJson] = useState("{}");
  const [logicalDate, setLogicalDate] = useState("");
  const [noCache, setNoCache] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [other, setOther] = useState<string[]>([]);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (dag.data && values === null) {
      setValues(schema ? initialValues(schema, dag.data.defaults, dag.data.secretParams) : {});
      // secret params' defaults come as ***: left out, so that the server applies them
      const secret = new Set(dag.data.secretParams ?? []);
      if (!schema && dag.data.params) setRawJson(JSON.stringify(Object.fromEntries(Object.entries(dag.data.defaults ?? {}).filter(([k]) => !secret.has(k))), null, 2));
    }
  }, [dag.data, schema, values]);

  if (!canOperate) return <div className="page"><p>Only operators and admins trigger runs.</p></div>;
  if (dag.error) return <div className="page"><ErrorBox error={dag.error} /></div>;
  if (!dag.data || values === null) return <div className="page muted">Loading…</div>;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setOther([]);
    let params: unknown;
    if (schema) {
      const v = validate(schema, values);
      setErrors(v.errors);
      if (Object.keys(v.errors).length) return;
      params = v.params;
    } else if (dag.data?.params) {
      try {
        params = JSON.parse(rawJson);
      } catch {
        setErrors({ "": "params must be JSON" });
        return;
      }
    }
    setBusy(true);
    try {
      const run = await api.trigger(dagId, { params, logicalDate: logicalDate ? new Date(logicalDate).getTime() : undefined, ...(noCache ? { noCache: true } : {}) });
      navigate(`/dags/${encodeURIComponent(dagId)}?run=${encodeURIComponent(run.runId)}`);
    } catch (err) {
      if (err instanceof ApiError && err.fields.length) {
        const byField: Record<string, string> = {};
        const rest: string[] = [];
        for (const f of err.fields) {
          const key = f.path.replace(/^\/?(params[./])?/, "").replace(/^\//, "").split(/[./]/)[0] ?? "";
          if (schema?.properties?.[key]) byField[key] = f.message;
          else rest.push(`${f.path || "params"}: ${f.message}`);
        }
        setErrors(byField);
        setOther(rest);
      }
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="page narrow">
      <h2>
        Trigger <Link to={`/dags/${encodeURIComponent(dagId)}`}>{dagId}</Link>
      </h2>
      <form onSubmit={submit} className="card" noValidate aria-label="Trigger a run">
        {schema ? (
          <SchemaForm schema={schema} values={values} errors={errors} onChange={setValues} secret={dag.data.secretParams ?? []} />
        ) : dag.data.params ? (
          <label>
            Params (JSON)
            <textarea name="params" rows={8} value={rawJson} onChange={(e) => setRawJson(e.target.value)} />
            {errors[""] && <div className="field-error">{errors[""]}</div>}
          </label>
        ) : (
          <p className="muted">This DAG takes no params.</p>
        )}
        <label>
          Logical date <span className="muted small">(optional; default now)</span>
          <input type="datetime-local" name="logicalDate" value={logicalDate} onChange={(e) => setLogicalDate(e.target.value)} />
        </label>
        <label className="checkbox">
          <input type="checkbox" name="noCache" checked={noCache} onChange={(e) => setNoCache(e.target.checked)} /> Refresh cache (no cache){" "}
          <span className="muted small">— cached tasks run again and replace their cache entries</span>
        </label>
        {error && <ErrorBox error={error} />}
        {other.length > 0 && (
          <ul className="error">
            {other.map((o) => (
              <li key={o}>{o}</li>
            ))}
          </ul>
        )}
        <button type="submit" className="primary" disabled={busy}>
          Trigger run
        </button>
      </form>
    </div>
  );
}
