/**
 * The model registry over HTTP (issue 15, item 3; app/models.ts): models, a model's versions, aliases,
 * history and approvals, one version's lineage, promote and roll back an alias, list and decide approvals.
 * Reads need the viewer role, moves and decisions the operator role (globally: a model is not one DAG's).
 */
import { z } from "zod";
import { decideApproval, listApprovals, listModels, promoteModel, rollbackModel, showModel, showModelVersion } from "../../app/models.js";
import { body, query, route, type Route } from "../route.js";
import { aliasMoveSchema, approvalSchema, approvalsSchema, modelDetailSchema, modelsSchema, modelVersionDetailSchema } from "../schemas.js";

const reason = z.string().max(2000).nullable().optional();

export function modelRoutes(): Route[] {
  return [
    route({
      method: "get",
      path: "/models",
      response: modelsSchema,
      access: listModels.role,
      tag: "models",
      summary: "Registered models with their latest version and aliases",
      handler: async ({ env, actor }) => ({ items: await listModels(env.sluice, actor!, undefined) }),
    }),
    route({
      method: "get",
      path: "/models/:name",
      response: modelDetailSchema,
      access: showModel.role,
      tag: "models",
      summary: "A model: its versions (newest first, with metrics and lineage), aliases, alias history (newest first) and approvals",
      handler: async ({ env, actor, params }) => showModel(env.sluice, actor!, { name: params["name"]! }),
    }),
    route({
      method: "get",
      path: "/models/:name/versions/:version",
      response: modelVersionDetailSchema,
      access: showModelVersion.role,
      tag: "models",
      summary: "One version with its lineage: the run, task and attempt that registered it, the asset events its run consumed, the aliases it holds",
      handler: async ({ env, actor, params }) => showModelVersion(env.sluice, actor!, { name: params["name"]!, version: params["version"]! }),
    }),
    route({
      method: "post",
      path: "/models/:name/promote",
      response: aliasMoveSchema,
      access: promoteModel.role,
      tag: "models",
      summary: "Point an alias at a version (404 for an unknown model or version; nothing is written)",
      body: body({ alias: z.string().min(1).max(100), version: z.number().int().min(1), reason }),
      handler: async ({ env, actor, params, body: b }) => promoteModel(env.sluice, actor!, { name: params["name"]!, version: b.version, alias: b.alias, reason: b.reason ?? null }),
    }),
    route({
      method: "post",
      path: "/models/:name/rollback",
      response: aliasMoveSchema,
      access: rollbackModel.role,
      tag: "models",
      summary: "Move an alias back to its previous holder (409 when nothing is left to undo)",
      body: body({ alias: z.string().min(1).max(100), reason }),
      handler: async ({ env, actor, params, body: b }) => rollbackModel(env.sluice, actor!, { name: params["name"]!, alias: b.alias, reason: b.reason ?? null }),
    }),
    route({
      method: "get",
      path: "/approvals",
      response: approvalsSchema,
      access: listApprovals.role,
      tag: "models",
      summary: "Promotion gates' approvals, newest first: pending ones unless `state` says otherwise",
      query: query({ state: z.enum(["pending", "approved", "rejected", "expired", "all"]).default("pending"), model: z.string().min(1).max(200).optional() }),
      handler: async ({ env, actor, query: q }) => ({ items: await listApprovals(env.sluice, actor!, { state: q.state, ...(q.model ? { name: q.model } : {}) }) }),
    }),
    route({
      method: "post",
      path: "/approvals/:id",
      response: approvalSchema,
      access: decideApproval.role,
      tag: "models",
      summary: "Approve or reject a pending approval; the waiting gate wakes at once (409 when decided already or its gate no longer waits)",
      body: body({ decision: z.enum(["approve", "reject"]), comment: reason }),
      handler: async ({ env, actor, params, body: b }) => decideApproval(env.sluice, actor!, { id: params["id"]!, decision: b.decision, comment: b.comment ?? null }),
    }),
  ];
}
