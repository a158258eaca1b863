import { parse } from 'shell-quote';

/**
 * A start command as text (a Procfile line, a request's start_command, a package.json script)
 * turned into the argv an exec-form CMD runs: plain words run as they are; anything a shell must
 * read ($PORT, &&, pipes, redirections, globs) runs as `sh -c "exec …"`, so the variable is
 * expanded and the process still receives SIGTERM itself.
 */
export function toArgv(command: string): string[] {
  const tokens = parse(command, (name) => `$${name}`);
  const plain = tokens.every((t) => typeof t === 'string' && !t.includes('$'));
  if (plain && tokens.length > 0 && !/[`\\]/.test(command)) return tokens as string[];
  const body = command.trim().startsWith('exec ') ? command.trim() : `exec ${command.trim()}`;
  return ['sh', '-c', body];
}

/** The words of a command, operators dropped (for looking at what it runs, not for running it). */
export function words(command: string): string[] {
  return parse(command, (name) => `$${name}`).filter((t): t is string => typeof t === 'string');
}

/** A Procfile's `web:` process, if any. */
export function procfileWeb(text: string | null): string | null {
  if (!text) return null;
  for (const line of text.split(/\r?\n/)) {
    const m = /^web:\s*(.+)$/.exec(line.trim());
    if (m) return m[1].trim();
  }
  return null;
}

/** Whether code reads a PORT environment variable, by the idiom of its language. */
export function readsPortEnv(code: string): boolean {
  return /process\.env\.PORT|process\.env\[['"]PORT['"]\]|os\.environ(\.get)?\(?\[?['"]PORT['"]|os\.getenv\(['"]PORT['"]|os\.Getenv\("PORT"\)|Deno\.env\.get\(['"]PORT['"]\)|Bun\.env\.PORT/.test(
    code,
  );
}

/** A port written into code as a literal where it listens: listen(3000), port=5000, ":8080". */
export function fixedPort(code: string): number | null {
  const m = /\.listen\(\s*(\d{2,5})\b|\bport\s*[=:]\s*(\d{2,5})\b|ListenAndServe\(\s*"[^"]*:(\d{2,5})"/.exec(code);
  const n = m ? Number(m[1] ?? m[2] ?? m[3]) : null;
  return n && n > 0 && n < 65536 ? n : null;
}
