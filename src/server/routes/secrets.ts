/**
 * Connections and variables over HTTP (app/secrets.ts). Responses never hold a secret value: a
 * connection's password and extra, and a secret variable's value, show as set (`passwordSet: true`,
 * `isSecret: true` without `value`). PUT creates or replaces; on a connection, a password or extra left out
 * of the body keeps the stored one (null clears it), so a form that shows "set" can be saved as is.
 */
import { z } from "zod";
import {
  addConnection,
  deleteConnection,
  deleteVariable,
  getVariable,
  listConnections,
  listVariables,
  setVariable,
  showConnection,
  testConnection,
  updateConnection,
  type ConnectionInput,
} from "../../app/secrets.js";
import type { JsonValue } from "../../core/assets.js";
import { SluiceError } from "../../errors.js";
import { parseConnectionUri } from "../../secrets/connection.js";
import { body, route, type Route } from "../route.js";
import { connectionSchema, connectionTestSchema, list, ok, variableSchema } from "../schemas.js";

const text = (max: number) => z.string().max(max);

const connectionBody = body({
  uri: text(10_000).optional(),
  type: text(100).optional(),
  description: text(2000).nullable().optional(),
  host: text(1000).nullable().optional(),
  port: z.number().int().min(1).max(65535).nullable().optional(),
  login: text(1000).nullable().optional(),
  password: text(10_000).nullable().optional(),
  schema: text(1000).nullable().optional(),
  extra: z.record(z.string(), z.unknown()).nullable().optional(),
});

const variableBody = body({
  value: z.unknown().optional(),
  isSecret: z.boolean().optional(),
  description: text(2000).nullable().optional(),
});

const field = (name: string, message: string) => new SluiceError("INVALID_INPUT", `body field "${name}": ${message}`, { details: { field: name } });

/** The body as the fields of a change: a URI, or fields with a type. */
function connectionInput(b: z.infer<typeof connectionBody>): ConnectionInput {
  if (b.uri !== undefined) {
    const extraneous = (["type", "host", "port", "login", "password", "schema", "extra"] as const).find((k) => b[k] !== undefined);
    if (extraneous) throw field(extraneous, `give either "uri" or the fields, not both`);
    let parsed: ConnectionInput;
    try {
      parsed = parseConnectionUri(b.uri);
    } catch (e) {
      if (e instanceof SluiceError) throw new SluiceError(e.code, `body field "uri": ${e.message}`, { details: { field: "uri", part: e.details["field"] } });
      throw e;
    }
    return { ...parsed, ...(b.description !== undefined ? { description: b.description } : {}) };
  }
  if (b.type === undefined || b.type === "") throw field("type", `required (or give the whole connection as "uri")`);
  const out: ConnectionInput = { type: b.type.toLowerCase() };
  for (const k of ["description", "host", "port", "login", "schema"] as const) if (b[k] !== undefined) (out as Record<string, unknown>)[k] = b[k];
  if (b.password !== undefined) out.password = b.password;
  if (b.extra !== undefined) out.extra = b.extra;
  return out;
}

export function secretRoutes(): Route[] {
  return [
    route({
      method: "get",
      path: "/connections",
      response: list(connectionSchema),
      access: listConnections.role,
      tag: "connections",
      summary: "Connections in the metadata store (passwords and extras only as passwordSet / extraSet)",
      handler: async ({ env, actor }) => ({ items: await listConnections(env.sluice, actor!, {}), nextCursor: null }),
    }),
    route({
      method: "get",
      path: "/connections/:id",
      response: connectionSchema,
      access: showConnection.role,
      tag: "connections",
      summary: "One connection (never its password or extra)",
      handler: ({ env, actor, params }) => showConnection(env.sluice, actor!, { id: params["id"]! }),
    }),
    route({
      method: "put",
      path: "/connections/:id",
      response: connectionSchema,
      access: updateConnection.role,
      tag: "connections",
      summary: "Create or replace a connection, from { uri } or fields; a password or extra left out keeps the stored one, null clears it",
      body: connectionBody,
      async handler({ env, actor, params, body }) {
        const id = params["id"]!;
        const input = connectionInput(body);
        const exists = (await env.sluice.store.connections.get(id)) !== null;
        const r = exists ? await updateConnection(env.sluice, actor!, { id, fields: input }) : await addConnection(env.sluice, actor!, { id, fields: input });
        return r.view;
      },
    }),
    route({
      method: "delete",
      path: "/connections/:id",
      response: ok,
      access: deleteConnection.role,
      tag: "connections",
      summary: "Delete a connection",
      async handler({ env, actor, params }) {
        await deleteConnection(env.sluice, actor!, { id: params["id"]! });
        return { ok: true };
      },
    }),
    route({
      method: "post",
      path: "/connections/:id/test",
      response: connectionTestSchema,
      access: testConnection.role,
      tag: "connections",
      summary: "Connect for real (postgres, http, https, sqlite): { ok (null: no test for the type), message, ms }",
      handler: ({ env, actor, params }) => testConnection(env.sluice, actor!, { id: params["id"]! }),
    }),
    route({
      method: "get",
      path: "/variables",
      response: list(variableSchema),
      access: listVariables.role,
      tag: "variables",
      summary: "Variables (a secret one without its value)",
      handler: async ({ env, actor }) => ({ items: await listVariables(env.sluice, actor!, {}), nextCursor: null }),
    }),
    route({
      method: "get",
      path: "/variables/:key",
      response: variableSchema,
      access: getVariable.role,
      tag: "variables",
      summary: "One variable (a secret one without its value)",
      handler: ({ env, actor, params }) => getVariable(env.sluice, actor!, { key: params["key"]! }),
    }),
    route({
      method: "put",
      path: "/variables/:key",
      response: variableSchema,
      access: setVariable.role,
      tag: "variables",
      summary: "Create or replace a variable: { value (any JSON), isSecret?, description? }",
      body: variableBody,
      async handler({ env, actor, params, body }) {
        if (body.value === undefined) throw field("value", "required (any JSON value)");
        const r = await setVariable(env.sluice, actor!, {
          key: params["key"]!,
          value: body.value as JsonValue,
          ...(body.isSecret !== undefined ? { isSecret: body.isSecret } : {}),
          ...(body.description !== undefined ? { description: body.description } : {}),
        });
        return r.view;
      },
    }),
    route({
      method: "delete",
      path: "/variables/:key",
      response: ok,
      access: deleteVariable.role,
      tag: "variables",
      summary: "Delete a variable",
      async handler({ env, actor, params }) {
        await deleteVariable(env.sluice, actor!, { key: params["key"]! });
        return { ok: true };
      },
    }),
  ];
}
