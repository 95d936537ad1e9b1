/**
 * The route table: every REST endpoint is one `Route` — method, path, the role it needs, zod schemas of
 * its query and body, and a handler. The same table registers the Hono routes, drives the auth
 * middleware (what is public) and generates the OpenAPI document, so none of them can drift apart.
 */
import type { Context } from "hono";
import { z } from "zod";
import type { Actor } from "../app/actor.js";
import type { Auth, Principal } from "../auth/auth.js";
import type { GlobalRole } from "../auth/roles.js";
import { SluiceError } from "../errors.js";
import type { Sluice } from "../sluice.js";
import { DEFAULT_LIMIT, MAX_LIMIT } from "./cursor.js";

/**
 * Who may call a route: "public" (no one needs to sign in), or the least global role — "none": any
 * signed-in user or token (self-service). A scoped event token calls none of them.
 */
export type Access = GlobalRole | "public";

export interface ApiEnv {
  sluice: Sluice;
  auth: Auth;
  /** `sluice dev` / `sluice server` print them; 500s are logged. */
  onError?: (e: SluiceError) => void;
}

export interface RouteContext<Q, B> {
  c: Context;
  env: ApiEnv;
  /** null on public routes. */
  principal: Principal | null;
  /** The principal as the application layer's actor (app/actor); null on public routes. */
  actor: Actor | null;
  params: Record<string, string>;
  query: Q;
  body: B;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- one table holds routes of every query and body type; `unknown` would reject them (handler parameters)
export interface Route<Q = any, B = any> {
  method: "get" | "post" | "put" | "patch" | "delete";
  /** Below /api/v1, Hono syntax (`/runs/:runId`). */
  path: string;
  access: Access;
  /**
   * "dag": the route returns or acts on DAG-scoped data and its handler checks the actor's role on each
   * DAG it touches (app/access.ts: lists filter; an object of a DAG the actor may not read is 404), so the
   * role in `access` may come from a grant on some DAG. Absent: `access` is needed as a global role.
   */
  scope?: "dag";
  summary: string;
  tag: string;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** Success status (default 200). */
  status?: 200 | 201 | 202 | 204;
  /** Non-JSON responses (SSE, downloads): documented as such. */
  produces?: string;
  /**
   * The JSON body of a success (server/schemas.ts): the OpenAPI document's response schema, from which the
   * UI's types are generated; test/server/contract.test.ts checks real answers against it. Every JSON route has one.
   */
  response?: z.ZodType;
  /** Other successes with bodies of their own (a dry run's 200 beside a create's 201). */
  otherResponses?: Partial<Record<200 | 201 | 202, { description: string; schema: z.ZodType }>>;
  /** The JSON body or a Response, or a promise of either. */
  handler(ctx: RouteContext<Q, B>): unknown;
}

export function route<Q = Record<string, never>, B = undefined>(r: Route<Q, B>): Route {
  return r as Route;
}

// ---- shared schemas ----------------------------------------------------------------------------------

/** `?limit=&cursor=`, for every list. */
export const pagination = {
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT),
  cursor: z.string().max(2000).optional(),
};

export const boolParam = z.enum(["true", "false"]).transform((v) => v === "true");

/** Query strings are strict too: a misspelt filter is an error, not an unfiltered list. */
export const query = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape);
export const body = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape);

export const mapIndexParam = z.coerce.number().int().min(-1).max(1_000_000);

/** A zod failure as a message naming the field. */
export function describeIssues(e: z.ZodError, where: "body" | "query"): SluiceError {
  const issue = e.issues[0]!;
  let field = issue.path.map(String).join(".");
  let message = issue.message;
  if (issue.code === "unrecognized_keys") {
    const keys = (issue as { keys: string[] }).keys;
    field = [field, keys[0]].filter(Boolean).join(".");
    message = `unknown field${keys.length > 1 ? "s" : ""} ${keys.map((k) => `"${k}"`).join(", ")}`;
    return new SluiceError("INVALID_INPUT", `${where}: ${message}`, { details: { field } });
  }
  return new SluiceError("INVALID_INPUT", `${where} field "${field || "(root)"}": ${message}`, { details: { field } });
}

export function notFound(kind: string, id: string | number): SluiceError {
  return new SluiceError("NOT_FOUND", `${kind} ${JSON.stringify(String(id))} not found`, { details: { [kind]: id } });
}
