/**
 * Session ids, API tokens and CSRF tokens. Ids and tokens are 32 random bytes; the store keeps only their
 * SHA-256 (a fast hash is enough for 256-bit random secrets: there is nothing to brute-force). The CSRF
 * token is derived from the session id, so it is bound to the session and needs no storage.
 */
import { createHash, randomBytes } from "node:crypto";

export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export function csrfTokenFor(sessionId: string): string {
  return createHash("sha256").update(`sluice-csrf\0${sessionId}`).digest("base64url");
}

/** API tokens carry a recognisable prefix (secret scanners, logs) and a public id to revoke them by. */
export const API_TOKEN_PREFIX = "sluice_";

export function newApiToken(): { tokenId: string; token: string } {
  const tokenId = randomBytes(6).toString("hex");
  return { tokenId, token: `${API_TOKEN_PREFIX}${tokenId}_${newSecret()}` };
}
