/**
 * Opaque list cursors: the sort key of a page's last row, as base64url JSON. Clients pass them back
 * unchanged; a cursor that does not decode to the expected shape is a 400, never a 500.
 */
import { SluiceError } from "../errors.js";

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;

export function encodeCursor(key: unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

/** The decoded key, checked element by element against `kinds`. */
export function decodeCursor<T extends unknown[]>(cursor: string | undefined, kinds: readonly ("string" | "number")[]): T | null {
  if (cursor === undefined || cursor === "") return null;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    key = null;
  }
  if (!Array.isArray(key) || key.length !== kinds.length || key.some((v, i) => typeof v !== kinds[i])) {
    throw new SluiceError("INVALID_INPUT", "cursor: not a cursor of this list; pass nextCursor from the previous page unchanged", { details: { field: "cursor" } });
  }
  return key as T;
}

/** `{ items, nextCursor }` from a page fetched with limit + 1 rows. */
export function page<R, V>(rows: R[], limit: number, view: (r: R) => V, keyOf: (r: R) => unknown[]): { items: V[]; nextCursor: string | null } {
  const more = rows.length > limit;
  const shown = more ? rows.slice(0, limit) : rows;
  return { items: shown.map(view), nextCursor: more ? encodeCursor(keyOf(shown[shown.length - 1]!)) : null };
}
