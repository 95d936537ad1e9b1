/**
 * Which link targets a doc may carry. Judged as the browser will parse the URL (WHATWG URL): leading and
 * trailing C0 controls and spaces are dropped and tabs/newlines removed anywhere, so `\x01javascript:…`
 * and `java\tscript:…` ARE javascript: URLs. Only http, https, mailto and relative targets are allowed;
 * anything else (javascript:, data:, vbscript:, protocol-relative `//host`) stays text.
 */
const ALLOWED_SCHEMES = new Set(["http", "https", "mailto"]);

export function safeHref(url: string): string | null {
  // eslint-disable-next-line no-control-regex -- stripping control characters as the URL parser does
  const u = url.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, "").replace(/[\t\n\r]/g, "");
  // eslint-disable-next-line no-control-regex -- any other control character: not a link
  if (u === "" || /[\u0000-\u001f\u007f-\u009f]/.test(u)) return null;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(u);
  if (scheme) return ALLOWED_SCHEMES.has(scheme[1]!.toLowerCase()) ? u : null;
  // `//evil.example` and `/\evil.example` leave the site (browsers treat `\` as `/`)
  if (/^[/\\]{2}/.test(u)) return null;
  return u;
}
