/**
 * A labelled form field with its error underneath, and `formErrors`: an API error split into messages per
 * field (shown next to the field) and one general message. The API names the field in `fields[]` (422)
 * or at the start of the message (`body field "username": …`, `password: must be …`, `current: …`); a
 * 409 "already exists" belongs to the field given as `conflictField`.
 */
import type { ReactNode } from "react";
import { ApiError } from "../api";

export interface FormErrors {
  fields: Record<string, string>;
  general: string | null;
}

export const noErrors: FormErrors = { fields: {}, general: null };

export function formErrors(err: unknown, known: string[], conflictField?: string): FormErrors {
  if (!(err instanceof ApiError)) return { fields: {}, general: err instanceof Error ? err.message : String(err) };
  const fields: Record<string, string> = {};
  for (const f of err.fields) {
    const name = f.path.split(".").pop() ?? f.path;
    if (known.includes(name)) fields[name] = f.message;
  }
  if (Object.keys(fields).length > 0) return { fields, general: null };
  const msg = err.message;
  let m = /^(?:body|query) field "([^"]+)":\s*(.*)$/s.exec(msg);
  if (m && known.includes(m[1]!.split(".").pop()!)) return { fields: { [m[1]!.split(".").pop()!]: m[2]! }, general: null };
  m = /^(?:body|query): unknown field "([^"]+)"/.exec(msg);
  if (m && known.includes(m[1]!)) return { fields: { [m[1]!]: msg }, general: null };
  m = /^([A-Za-z_]+):\s*(.*)$/s.exec(msg);
  if (m && known.includes(m[1]!)) return { fields: { [m[1]!]: m[2]! }, general: null };
  if (err.status === 409 && conflictField && /already exists/i.test(msg)) return { fields: { [conflictField]: msg }, general: null };
  return { fields: {}, general: msg };
}

export function Field({ label, error, children }: { label: string; error?: string | undefined; children: ReactNode }) {
  return (
    <label className={`field${error ? " invalid" : ""}`}>
      {label}
      {children}
      {error && (
        <span className="field-error" role="alert">
          {error}
        </span>
      )}
    </label>
  );
}

/** The general (not field-specific) error of a form. */
export function FormError({ errors }: { errors: FormErrors }) {
  if (!errors.general) return null;
  return (
    <p className="error" role="alert">
      {errors.general}
    </p>
  );
}
