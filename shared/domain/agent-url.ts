import { isIP } from 'node:net';

/**
 * Which URLs a design's `url` agents may call. Pure. An allow-list entry is a host
 * (`api.example.com`), a wildcard for its subdomains (`*.example.com`), either with a port
 * (`127.0.0.1:8080`), or `*` for any host. Whatever the list says, the metadata server and every
 * link-local address (169.254.0.0/16, fe80::/10, where cloud metadata endpoints live) are refused:
 * a design must never reach the credentials of the function running it. The adapter checks the
 * resolved addresses too (a name pointing at 169.254.169.254 is refused at connect time).
 */

const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata.google.internal.', 'metadata', 'metadata.goog']);

/** 169.254.0.0/16, fe80::/10, the IPv4-mapped forms of the former, and AWS's fd00:ec2::254. */
export function isForbiddenAddress(address: string): boolean {
  const a = address.toLowerCase().replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  const v4 = mapped ? mapped[1] : a;
  if (isIP(v4) === 4) return v4.startsWith('169.254.');
  if (isIP(a) === 6) {
    if (/^::ffff:a9fe:/.test(a)) return true;
    if (/^fe[89ab][0-9a-f]?:/.test(a)) return true;
    return a === 'fd00:ec2::254';
  }
  return false;
}

export function parseAllowList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

/** Null when the URL may be called; else why not (for the step's error). */
export function agentUrlProblem(raw: string, allow: readonly string[], { baton = false } = {}): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `"${raw}" is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${url.protocol} URLs are not agents: use http:// or https://`;
  if (url.username || url.password) return 'an agent URL may not carry credentials';
  const host = url.hostname.toLowerCase();
  if (METADATA_HOSTS.has(host) || isForbiddenAddress(host)) return `${host} is the metadata server or a link-local address: always refused`;
  if (baton) return null;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const ok = allow.some((entry) => {
    if (entry === '*') return true;
    const [pattern, wantPort] = splitPort(entry);
    if (wantPort !== null && wantPort !== '*' && wantPort !== port) return false;
    if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
    return host === pattern;
  });
  return ok ? null : `${host}:${port} is not in the agent URL allow-list (BATON_AGENT_URL_ALLOW)`;
}

function splitPort(entry: string): [string, string | null] {
  if (entry.startsWith('[')) {
    const end = entry.indexOf(']');
    const rest = entry.slice(end + 1);
    return [entry.slice(1, end), rest.startsWith(':') ? rest.slice(1) : null];
  }
  const i = entry.lastIndexOf(':');
  if (i < 0 || entry.indexOf(':') !== i) return [entry, null];
  return [entry.slice(0, i), entry.slice(i + 1)];
}
