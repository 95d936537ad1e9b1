/** The OpenAPI 3.1 document, generated from the route table (and the events endpoint, documented here). */
import { z } from "zod";
import type { Route } from "./route.js";

const ERROR = {
  type: "object",
  required: ["code", "message"],
  properties: { code: { type: "string" }, message: { type: "string" }, fields: { type: "array", items: { type: "object", properties: { path: { type: "string" }, message: { type: "string" } } } } },
};

function jsonSchema(schema: z.ZodType, io: "input" | "output" = "input"): Record<string, unknown> {
  const s = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
  delete s["$schema"];
  return s;
}

export function openApiDocument(routes: readonly Route[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const all = [
    ...routes.map((r) => ({ r, events: false })),
    { r: null, events: true },
  ];
  for (const { r, events } of all) {
    if (events) {
      paths["/api/v1/events/{name}"] = {
        post: {
          tags: ["events"],
          summary: "Send an external event (an event token of scope events:<glob>, an operator's token or session, or SLUICE_EVENT_TOKEN); the body is its JSON payload",
          operationId: "postEvent",
          security: [{ eventToken: [] }],
          parameters: [
            { name: "name", in: "path", required: true, schema: { type: "string" } },
            { name: "Idempotency-Key", in: "header", required: false, schema: { type: "string" } },
          ],
          requestBody: { required: false, content: { "application/json": { schema: {} } } },
          responses: { "201": { description: "runs created" }, "200": { description: "seen before (same key)" }, "401": { description: "wrong token" }, "403": { description: "the token's scope does not match the event, or the caller is no operator" }, "404": { description: "no DAG subscribes" } },
        },
      };
      continue;
    }
    const route = r!;
    const path = `/api/v1${route.path.replace(/:([A-Za-z]+)/g, "{$1}")}`;
    const parameters: Record<string, unknown>[] = [...route.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    if (route.query) {
      const q = jsonSchema(route.query) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(q.properties ?? {})) parameters.push({ name, in: "query", required: (q.required ?? []).includes(name) && !Object.hasOwn(schema as object, "default"), schema });
    }
    const ok = String(route.status ?? 200);
    const op: Record<string, unknown> = {
      tags: [route.tag],
      summary: route.summary,
      operationId: `${route.method}${route.path.replace(/[:/-](\w)/g, (_m, ch: string) => ch.toUpperCase())}`,
      "x-required-role": route.access,
      // per-DAG routes: the role may come from a grant on the DAG; a DAG the caller may not read is 404
      ...(route.scope === "dag" ? { "x-per-dag": true } : {}),
      security: route.access === "public" ? [] : [{ session: [], csrf: [] }, { bearer: [] }],
      parameters,
      responses: {
        [ok]: { description: "OK", content: route.produces ? { [route.produces]: { schema: { type: "string" } } } : { "application/json": { schema: route.response ? jsonSchema(route.response, "output") : {} } } },
        ...Object.fromEntries(Object.entries(route.otherResponses ?? {}).map(([status, r]) => [status, { description: r.description, content: { "application/json": { schema: jsonSchema(r.schema, "output") } } }])),
        "400": { description: "bad input", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
        ...(route.access === "public" ? {} : { "401": { description: "not logged in" }, "403": { description: "role too low or CSRF token missing" } }),
        "404": { description: "not found" },
        ...(route.body ? { "413": { description: "body over 1 MB" } } : {}),
      },
    };
    if (route.body) op["requestBody"] = { required: true, content: { "application/json": { schema: jsonSchema(route.body) } } };
    (paths[path] ??= {})[route.method] = op;
  }
  return {
    openapi: "3.1.0",
    info: { title: "Sluice REST API", version, description: "See docs/api.md. Times are epoch milliseconds; lists are { items, nextCursor }." },
    servers: [{ url: "/" }],
    paths,
    components: {
      schemas: { Error: ERROR },
      securitySchemes: {
        session: { type: "apiKey", in: "cookie", name: "sluice_session" },
        csrf: { type: "apiKey", in: "header", name: "X-CSRF-Token", description: "required with the session cookie on every state-changing request" },
        bearer: { type: "http", scheme: "bearer", description: "an API token (sluice tokens create)" },
        eventToken: { type: "http", scheme: "bearer", description: "SLUICE_EVENT_TOKEN" },
      },
    },
  };
}
