/** Grants (per-DAG access): list, add, delete — app/grants operations, the admin's. */
import { z } from "zod";
import { addGrant, deleteGrant, listGrants } from "../../app/grants.js";
import { SluiceError } from "../../errors.js";
import type { GrantRecord } from "../../store/grants.js";
import { body, query, route, type Route } from "../route.js";
import { deletedGrantSchema, grantSchema, list, newGrantSchema } from "../schemas.js";

export const grantView = (g: GrantRecord) => ({
  id: g.grantId,
  ...(g.principalKind === "user" ? { user: g.principal } : { token: g.principal }),
  role: g.role,
  selector: g.selector,
  createdAt: g.createdAt,
  createdBy: g.createdBy,
});

function grantIdOf(raw: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(raw)) throw new SluiceError("INVALID_INPUT", `id: must be a positive integer, got ${JSON.stringify(raw.slice(0, 50))}`, { details: { field: "id" } });
  return Number(raw);
}

export function grantRoutes(): Route[] {
  return [
    route({
      method: "get",
      path: "/grants",
      response: list(grantSchema),
      access: listGrants.role,
      tag: "grants",
      summary: "Grants: a role (viewer, operator, admin) on the DAGs a selector picks (dag:<glob>, tag:<tag>, owner:<name>), for a user or an API token",
      query: query({ user: z.string().max(64).optional(), token: z.string().max(100).optional() }),
      handler: async ({ env, actor, query: q }) => ({
        items: (await listGrants(env.sluice.store, actor!, { ...(q.user !== undefined ? { user: q.user } : {}), ...(q.token !== undefined ? { token: q.token } : {}) })).map(grantView),
        nextCursor: null,
      }),
    }),
    route({
      method: "post",
      path: "/grants",
      response: newGrantSchema,
      access: addGrant.role,
      tag: "grants",
      summary: "Grant a user or an API token (exactly one) a role on DAGs; `warnings` says when the selector matches no registered DAG yet",
      status: 201,
      body: body({ user: z.string().min(1).max(64).optional(), token: z.string().min(1).max(100).optional(), role: z.string().min(1).max(20), selector: z.string().min(1).max(210) }),
      async handler({ env, actor, body: b }) {
        const r = await addGrant(env.sluice.store, actor!, {
          role: b.role,
          selector: b.selector,
          ...(b.user !== undefined ? { user: b.user } : {}),
          ...(b.token !== undefined ? { token: b.token } : {}),
        });
        return { ...grantView(r.grant), warnings: r.warnings };
      },
    }),
    route({
      method: "delete",
      path: "/grants/:id",
      response: deletedGrantSchema,
      access: deleteGrant.role,
      tag: "grants",
      summary: "Delete a grant",
      async handler({ env, actor, params }) {
        const r = await deleteGrant(env.sluice.store, actor!, { id: grantIdOf(params["id"]!) });
        return { ok: true, deleted: r.before ? grantView(r.before) : null };
      },
    }),
  ];
}
