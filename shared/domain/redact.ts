/**
 * Redaction, pure: what may be shown of a URL or a line of text. Used for log lines, error
 * messages, and the git URL a job document keeps (the credential itself is stored apart).
 */

/** Query parameter names that carry a credential: access_token, api_key, X-Goog-Signature, sig, password … */
const CREDENTIAL_PARAM = /^[\w.-]*?(token|key|sig|signature|password|passwd|pwd|secret|credential|auth)[\w.-]*$/i;
const REDACTED = '[REDACTED]';

/**
 * A URL with its user:password@ part removed and the values of credential query parameters
 * replaced. A password holding '/', '?' or '#' (unencoded, as people paste them) makes the
 * authority end early; an authority "user:pa" whose "port" is not a number cannot be a host, so everything up
 * to the '@' after it is taken as userinfo.
 */
export function withoutCredentials(url: string): string {
  return redactUrls(url, '');
}

/** Secrets in a line of text: key=value and key: value pairs, bearer tokens, credentials in any URL in it. */
export function redact(line: string): string {
  return redactUrls(line.replace(SECRETISH, `$1${REDACTED}`).replace(BEARER, `$1${REDACTED}`), `${REDACTED}@`);
}

const SECRETISH = /((?:secret|password|passwd|token|api[_-]?key|private[_-]?key|credential)[\w-]*["']?\s*[:=]\s*["']?)([^\s"',;&]+)/gi;
const BEARER = /(bearer\s+)[A-Za-z0-9._~+/=-]+/gi;
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;

function redactUrls(text: string, userinfoReplacement: string): string {
  return text.replace(URL_IN_TEXT, (url) => redactOne(url, userinfoReplacement));
}

function redactOne(url: string, userinfoReplacement: string): string {
  const schemeEnd = url.indexOf('://') + 3;
  let rest = url.slice(schemeEnd);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    rest = userinfoReplacement + rest.slice(at + 1);
  } else {
    const colon = authority.indexOf(':');
    const port = colon >= 0 ? authority.slice(colon + 1) : '';
    const laterAt = rest.indexOf('@', authority.length);
    if (colon >= 0 && !/^\d*$/.test(port) && laterAt > 0) {
      rest = userinfoReplacement + rest.slice(laterAt + 1);
    }
  }
  return url.slice(0, schemeEnd) + redactQuery(rest);
}

function redactQuery(rest: string): string {
  const q = rest.indexOf('?');
  if (q < 0) return rest;
  const hash = rest.indexOf('#', q);
  const query = rest.slice(q + 1, hash < 0 ? undefined : hash);
  const redacted = query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      let name = pair.slice(0, eq);
      try {
        name = decodeURIComponent(name);
      } catch {
        // A malformed name is compared as it stands.
      }
      return CREDENTIAL_PARAM.test(name) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
    })
    .join('&');
  return `${rest.slice(0, q + 1)}${redacted}${hash < 0 ? '' : rest.slice(hash)}`;
}
