/** A token of a Google filter language (Cloud Logging's, Cloud Monitoring's): what the fakes' parsers read. */
export type FilterToken = { kind: 'word' | 'string' | 'op' | '(' | ')'; text: string; at: number };

/**
 * Splits a filter into words, double-quoted strings (backslash escapes), operators and
 * parentheses. The operators and what a bare word may hold differ between the languages; `fail`
 * makes the error each API answers (`what` went wrong at 1-based `column`).
 */
export function lexFilter(text: string, opts: { op: RegExp; word: RegExp; fail: (what: string, column: number) => Error }): FilterToken[] {
  const out: FilterToken[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      out.push({ kind: c, text: c, at: i++ });
    } else if (c === '"') {
      const at = i++;
      let s = '';
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\') i++;
        s += text[i++] ?? '';
      }
      if (i >= text.length) throw opts.fail('unterminated string', at + 1);
      i++;
      out.push({ kind: 'string', text: s, at });
    } else {
      const op = opts.op.exec(text.slice(i));
      const w = op ? null : opts.word.exec(text.slice(i));
      const found = op ?? w;
      if (!found) throw opts.fail(`syntax error at column ${i + 1}, token '${c}'`, i + 1);
      out.push({ kind: op ? 'op' : 'word', text: found[0], at: i });
      i += found[0].length;
    }
  }
  return out;
}
