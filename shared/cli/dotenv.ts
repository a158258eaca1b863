/**
 * The dotenv syntax that `.env` files in the wild use (the `dotenv` package, Docker Compose):
 * `KEY=value` lines, an optional `export ` prefix, `#` comments on their own line or after an
 * unquoted value, single quotes (literal), double quotes (with \n, \r, \t, \" and \\ escapes), both
 * of which may span lines. No `${VAR}` expansion: a value is what the file says. Errors name the
 * file and line but never quote the line, which may hold a secret.
 */

export class DotenvError extends Error {
  override readonly name = 'DotenvError';
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' };

export function parseDotenv(text: string, file: string): Record<string, string> {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const out: Record<string, string> = {};
  for (let i = 0; i < lines.length; i++) {
    const at = `${file}:${i + 1}`;
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new DotenvError(`${at}: expected KEY=VALUE (a name, "=", then the value)`);
    const key = line
      .slice(0, eq)
      .replace(/^export\s+/, '')
      .trim();
    if (!NAME.test(key)) {
      throw new DotenvError(`${at}: "${key}" is not a variable name (letters, digits and "_", not starting with a digit)`);
    }
    const raw = line.slice(eq + 1).trimStart();
    const quote = raw[0];
    if (quote !== '"' && quote !== "'") {
      out[key] = raw.replace(/\s+#.*$/, '').trim();
      continue;
    }
    // A quoted value may run over several lines: read on until its closing quote.
    let rest = raw.slice(1);
    let value = '';
    const opened = i;
    while (true) {
      const end = closingQuote(rest, quote);
      if (end >= 0) {
        value += rest.slice(0, end);
        rest = rest.slice(end + 1).trim();
        break;
      }
      value += `${rest}\n`;
      i++;
      if (i >= lines.length)
        throw new DotenvError(`${file}:${opened + 1}: the value of ${key} opens a ${quote} quote that is never closed`);
      rest = lines[i] ?? '';
    }
    if (rest !== '' && !rest.startsWith('#')) {
      throw new DotenvError(`${file}:${i + 1}: unexpected text after the closing quote of ${key} (a comment needs "#")`);
    }
    out[key] = quote === '"' ? value.replace(/\\([nrt"\\])/g, (_, c: string) => ESCAPES[c] ?? c) : value;
  }
  return out;
}

/** The index of the quote that closes a value in `s`, skipping \" inside double quotes; -1 when none. */
function closingQuote(s: string, quote: string): number {
  for (let j = 0; j < s.length; j++) {
    if (quote === '"' && s[j] === '\\') {
      j++;
      continue;
    }
    if (s[j] === quote) return j;
  }
  return -1;
}
