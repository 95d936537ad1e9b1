/**
 * Outbound HTTP of Sluice itself (the httpOk sensor, connection tests), under the process's egress policy
 * (core/egress.ts). node:http's `lookup` hook sees every address the connection will use, so the policy
 * holds at connect time, after DNS resolution — a host that resolves to a metadata address, or rebinds to
 * one after a first check, is refused.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { egressRefusal, processEgressPolicy, type EgressPolicy } from "../core/egress.js";
import { SluiceError } from "../errors.js";

export interface OutboundResponse {
  status: number;
  body: string;
}

/** Bodies are read up to this many bytes (a health check needs little; a flood must not fill memory). */
const MAX_BODY = 1024 * 1024;

function checkedLookup(policy: EgressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, found) => {
      if (err) return callback(err, "", 0);
      const addresses = found;
      for (const a of addresses) {
        const why = egressRefusal(policy, hostname, a.address);
        if (why) return callback(new SluiceError("EGRESS_DENIED", `outbound HTTP refused: ${why}`), "", 0);
      }
      if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

type OutboundOptions = { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * One request, following up to 5 redirects as fetch would — each hop under the policy (a redirect to the
 * metadata service is refused like a direct request). Credentials are not sent to another host.
 */
export async function outbound(url: string, o: OutboundOptions = {}, hops = 5): Promise<OutboundResponse> {
  const res = await once(url, o);
  if (!REDIRECTS.has(res.status) || res.location === null || hops === 0) return { status: res.status, body: res.body };
  const next = new URL(res.location, url);
  const sameHost = next.host === new URL(url).host;
  const method = res.status === 303 || ((res.status === 301 || res.status === 302) && o.method === "POST") ? "GET" : o.method;
  const headers = sameHost ? o.headers : Object.fromEntries(Object.entries(o.headers ?? {}).filter(([k]) => k.toLowerCase() !== "authorization"));
  return outbound(next.toString(), { ...o, ...(method ? { method } : {}), ...(headers ? { headers } : {}), ...(method === "GET" ? { body: undefined } : {}) }, hops - 1);
}

function once(url: string, o: OutboundOptions): Promise<OutboundResponse & { location: string | null }> {
  const policy = processEgressPolicy();
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  // an address literal is never looked up: check it here
  if (isIP(host)) {
    const why = egressRefusal(policy, host, host);
    if (why) return Promise.reject(new SluiceError("EGRESS_DENIED", `outbound HTTP refused: ${why}`));
  }
  const send = u.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    // agent: false — a new connection each time: a pooled one would skip the lookup, and the check with it
    const req = send(u, { method: o.method ?? "GET", headers: o.headers ?? {}, agent: false, lookup: checkedLookup(policy), ...(o.signal ? { signal: o.signal } : {}) }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        if (size < MAX_BODY) chunks.push(c);
        size += c.length;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, MAX_BODY).toString("utf8"), location: res.headers.location ?? null }));
      res.on("error", reject);
    });
    req.on("error", (e) => reject(o.signal?.aborted ? o.signal.reason : e));
    req.end(o.body);
  });
}
