/**
 * Where Sluice's own outbound HTTP may go (HTTP sensors, connection tests): a task definition or a
 * connection must not turn a worker into a proxy to the cloud's metadata service (instance credentials)
 * or to link-local addresses. Checked against every address a host name resolves to, when the connection
 * is made (dsl/outbound.ts), so DNS rebinding cannot slip past a check made earlier.
 *
 * SLUICE_HTTP_DENY adds to the default deny list; SLUICE_HTTP_ALLOW, when set, is the only list allowed
 * (the deny list still applies first). Entries: CIDRs (`10.0.0.0/8`, `fd00::/8`), addresses, host names
 * (`metadata.google.internal`, `*.internal`).
 */
import { BlockList, isIP } from "node:net";
import { SluiceError } from "../errors.js";

/** Cloud metadata services and link-local ranges (AWS, GCP, Azure, Alibaba, Oracle, IPv6 forms). */
export const DEFAULT_DENY = ["169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32", "0.0.0.0/8", "metadata.google.internal", "metadata.goog"];

export interface EgressPolicy {
  deny: Matcher;
  /** null: everything not denied is allowed. */
  allow: Matcher | null;
}

interface Matcher {
  blocks: BlockList;
  hosts: string[];
  text: string[];
}

function matcher(entries: readonly string[], what: string): Matcher {
  const blocks = new BlockList();
  const hosts: string[] = [];
  for (const raw of entries) {
    const e = raw.trim().toLowerCase();
    if (!e) continue;
    const [addr, bits] = e.split("/");
    const family = isIP(addr ?? "");
    if (family) {
      const prefix = bits === undefined ? (family === 4 ? 32 : 128) : Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) throw new SluiceError("CONFIG", `${what}: "${raw}" is not a CIDR (e.g. 10.0.0.0/8)`);
      blocks.addSubnet(addr!, prefix, family === 4 ? "ipv4" : "ipv6");
    } else if (/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(e)) {
      hosts.push(e);
    } else {
      throw new SluiceError("CONFIG", `${what}: "${raw}" is neither an address, a CIDR nor a host name`);
    }
  }
  return { blocks, hosts, text: entries.map((x) => x.trim()).filter(Boolean) };
}

export function egressPolicy(o: { allow?: string | null; deny?: string | null } = {}): EgressPolicy {
  const list = (v: string | null | undefined) => (v ?? "").split(",").filter((x) => x.trim());
  return {
    deny: matcher([...DEFAULT_DENY, ...list(o.deny)], "SLUICE_HTTP_DENY"),
    allow: o.allow ? matcher(list(o.allow), "SLUICE_HTTP_ALLOW") : null,
  };
}

function hostMatches(hosts: readonly string[], host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return hosts.some((p) => (p.startsWith("*.") ? h.endsWith(p.slice(1)) : h === p));
}

function addressIn(m: Matcher, address: string): boolean {
  const family = isIP(address);
  if (!family) return false;
  // an IPv4-mapped IPv6 address (::ffff:169.254.169.254, ::ffff:a9fe:a9fe) is the IPv4 address
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return m.blocks.check(mapped[1]!, "ipv4") || m.blocks.check(address, "ipv6");
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hex) {
    const [hi, lo] = [parseInt(hex[1]!, 16), parseInt(hex[2]!, 16)];
    return m.blocks.check(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, "ipv4") || m.blocks.check(address, "ipv6");
  }
  return m.blocks.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** Why a connection to `host` at `address` is refused, or null. */
export function egressRefusal(p: EgressPolicy, host: string, address: string): string | null {
  if (hostMatches(p.deny.hosts, host) || addressIn(p.deny, address)) return `${host}${host === address ? "" : ` (${address})`} is denied (link-local and cloud metadata addresses always are; SLUICE_HTTP_DENY adds more)`;
  if (p.allow && !hostMatches(p.allow.hosts, host) && !addressIn(p.allow, address)) return `${host}${host === address ? "" : ` (${address})`} is not in SLUICE_HTTP_ALLOW`;
  return null;
}

let current: EgressPolicy = egressPolicy();

/** The process's policy (Sluice.open sets it from the configuration). */
export function setEgressPolicy(p: EgressPolicy): void {
  current = p;
}

export function processEgressPolicy(): EgressPolicy {
  return current;
}
