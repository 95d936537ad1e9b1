/**
 * A form generated from a DAG's params JSON Schema (an object of properties): checkboxes for booleans,
 * number inputs, selects for enums, text inputs, and JSON text areas for arrays and objects. `validate`
 * checks the values client-side with the schema's own constraints; the server checks again (its 422 field
 * errors are shown next to the same fields).
 */
import type { JsonSchema } from "../api";

export type FormValues = Record<string, string | boolean>;

function typeOf(s: JsonSchema): string {
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== "null") : s.type;
  if (t) return t;
  if (s.enum) return "enum";
  return "json";
}

/** `secret`: params whose defaults the API shows as `***`: their fields start empty (left empty, the default applies). */
export function initialValues(schema: JsonSchema, defaults: Record<string, unknown> | null, secret: readonly string[] = []): FormValues {
  const out: FormValues = {};
  for (const [k, p] of Object.entries(schema.properties ?? {})) {
    const v = secret.includes(k) ? undefined : (defaults?.[k] ?? p.default);
    const t = typeOf(p);
    if (t === "boolean") out[k] = v === true;
    else if (t === "array" || t === "object" || t === "json") out[k] = v === undefined ? "" : JSON.stringify(v, null, 2);
    else out[k] = v === undefined || v === null ? "" : String(v);
  }
  return out;
}

/** Values to params, and the client-side errors by field. */
export function validate(schema: JsonSchema, values: FormValues): { params: Record<string, unknown>; errors: Record<string, string> } {
  const params: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  const required = new Set(schema.required ?? []);
  for (const [k, p] of Object.entries(schema.properties ?? {})) {
    const raw = values[k];
    const t = typeOf(p);
    if (t === "boolean") {
      params[k] = raw === true;
      continue;
    }
    const text = typeof raw === "string" ? raw : "";
    if (text.trim() === "") {
      if (required.has(k) && p.default === undefined) errors[k] = "required";
      continue;
    }
    if (t === "number" || t === "integer") {
      const n = Number(text);
      if (!Number.isFinite(n)) errors[k] = "must be a number";
      else if (t === "integer" && !Number.isInteger(n)) errors[k] = "must be a whole number";
      else if (p.minimum !== undefined && n < p.minimum) errors[k] = `must be ≥ ${p.minimum}`;
      else if (p.maximum !== undefined && n > p.maximum) errors[k] = `must be ≤ ${p.maximum}`;
      else if (p.exclusiveMinimum !== undefined && n <= p.exclusiveMinimum) errors[k] = `must be > ${p.exclusiveMinimum}`;
      else if (p.exclusiveMaximum !== undefined && n >= p.exclusiveMaximum) errors[k] = `must be < ${p.exclusiveMaximum}`;
      params[k] = n;
    } else if (t === "array" || t === "object" || t === "json") {
      try {
        params[k] = JSON.parse(text);
      } catch {
        errors[k] = "must be JSON";
      }
    } else if (p.enum) {
      const v = p.enum.find((e) => String(e) === text);
      if (v === undefined) errors[k] = `must be one of ${p.enum.map(String).join(", ")}`;
      params[k] = v;
    } else {
      if (p.minLength !== undefined && text.length < p.minLength) errors[k] = `must have at least ${p.minLength} characters`;
      else if (p.maxLength !== undefined && text.length > p.maxLength) errors[k] = `must have at most ${p.maxLength} characters`;
      else if (p.pattern !== undefined && !safeRegExp(p.pattern)?.test(text)) errors[k] = `must match ${p.pattern}`;
      params[k] = text;
    }
  }
  return { params, errors };
}

function safeRegExp(pattern: string): RegExp | null {
  try {
    return new RegExp(pattern, "u");
  } catch {
    return null;
  }
}

export function SchemaForm({
  schema,
  values,
  errors,
  onChange,
  secret = [],
}: {
  schema: JsonSchema;
  values: FormValues;
  errors: Record<string, string>;
  onChange: (v: FormValues) => void;
  secret?: readonly string[];
}) {
  const required = new Set(schema.required ?? []);
  return (
    <div className="schema-form">
      {Object.entries(schema.properties ?? {}).map(([k, p]) => {
        const t = typeOf(p);
        const id = `param-${k}`;
        const set = (v: string | boolean) => onChange({ ...values, [k]: v });
        const err = errors[k];
        const hint = hintOf(p, secret.includes(k));
        const describedBy = [p.description ? `${id}-description` : "", hint ? `${id}-hint` : "", err ? `${id}-error` : ""].filter(Boolean).join(" ");
        const common = { id, name: k, "aria-invalid": err ? true : undefined, "aria-describedby": describedBy || undefined };
        return (
          <div key={k} className={`field${err ? " invalid" : ""}`}>
            <label htmlFor={id}>
              {p.title ?? k}
              {required.has(k) && p.default === undefined ? " *" : ""} <span className="muted small">{secret.includes(k) ? `secret ${t}` : t}</span>
              {p.description && (
                <span className="param-description" id={`${id}-description`} data-testid="param-description">
                  {p.description}
                </span>
              )}
            </label>
            {t === "boolean" ? (
              <input type="checkbox" {...common} checked={values[k] === true} onChange={(e) => set(e.target.checked)} />
            ) : p.enum ? (
              <select {...common} value={String(values[k] ?? "")} onChange={(e) => set(e.target.value)}>
                <option value="">—</option>
                {p.enum.map((e) => (
                  <option key={String(e)} value={String(e)}>
                    {String(e)}
                  </option>
                ))}
              </select>
            ) : t === "array" || t === "object" || t === "json" ? (
              <textarea {...common} rows={4} value={String(values[k] ?? "")} onChange={(e) => set(e.target.value)} />
            ) : (
              <input
                type={secret.includes(k) ? "password" : t === "number" || t === "integer" ? "number" : "text"}
                step="any"
                autoComplete={secret.includes(k) ? "off" : undefined}
                placeholder={secret.includes(k) && p.default !== undefined ? "(empty: the default)" : undefined}
                {...common}
                value={String(values[k] ?? "")}
                onChange={(e) => set(e.target.value)}
              />
            )}
            {hint && (
              <div className="muted small" id={`${id}-hint`}>
                {hint}
              </div>
            )}
            {err && (
              <div className="field-error" id={`${id}-error`} role="alert">
                {err}
              </div>
            )}
          </div>
        );
      })}
    </div>
  );
}

/** What the schema allows, in words: bounds, lengths, the pattern and the default (not a secret's). */
function hintOf(p: JsonSchema, secret: boolean): string {
  const parts: string[] = [];
  if (p.minimum !== undefined && p.maximum !== undefined) parts.push(`from ${p.minimum} to ${p.maximum}`);
  else if (p.minimum !== undefined) parts.push(`at least ${p.minimum}`);
  else if (p.maximum !== undefined) parts.push(`at most ${p.maximum}`);
  if (p.exclusiveMinimum !== undefined) parts.push(`more than ${p.exclusiveMinimum}`);
  if (p.exclusiveMaximum !== undefined) parts.push(`less than ${p.exclusiveMaximum}`);
  if (p.minLength !== undefined) parts.push(`at least ${p.minLength} characters`);
  if (p.maxLength !== undefined) parts.push(`at most ${p.maxLength} characters`);
  if (p.pattern !== undefined) parts.push(`matching ${p.pattern}`);
  if (p.format !== undefined) parts.push(p.format);
  if (p.default !== undefined && !secret) parts.push(`default ${JSON.stringify(p.default)}`);
  return parts.join(" · ");
}
