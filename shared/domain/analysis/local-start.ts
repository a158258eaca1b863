import { toArgv } from './command.js';
import type { Analysis } from './schema.js';

/**
 * The variable the local runtime sets to the address a revision must listen on (127.0.0.1: a
 * revision is reached through Baton's router only). Cloud Run sets no such thing, so the default
 * in each rewritten command is the image's 0.0.0.0.
 */
export const LISTEN_HOST_VAR = 'BATON_LISTEN_HOST';
const HOST = `\${${LISTEN_HOST_VAR}:-0.0.0.0}`;

/**
 * The analysis' start command as the local runtime runs it: the same command, with the
 * all-interfaces bind it gives the image (`--host 0.0.0.0`, `--bind 0.0.0.0:$PORT`,
 * `runserver 0.0.0.0:$PORT`) taken from BATON_LISTEN_HOST instead, and a gunicorn given no bind
 * (it binds 0.0.0.0:$PORT by itself when PORT is set) told to bind there. Binds to another
 * address, and commands that name none (`python main.py`, `./server`), are left as they are:
 * the app itself decides where it listens. Pure.
 */
export function localStartCommand(command: string): string {
  let out = command
    .replace(/(--host(?:=|\s+))0\.0\.0\.0\b/g, `$1${HOST}`)
    .replace(/((?:--bind|-b)(?:=|\s+))0\.0\.0\.0:/g, `$1${HOST}:`)
    .replace(/(\brunserver\s+)0\.0\.0\.0:/g, `$1${HOST}:`);
  if (/^(?:exec\s+)?gunicorn\b/.test(out.trim()) && !/(?:^|\s)(?:-b|--bind)(?:=|\s)/.test(out) && !/\bGUNICORN_CMD_ARGS\b/.test(out))
    out = out.trim().replace(/^((?:exec\s+)?gunicorn)\b/, `$1 --bind ${HOST}:\${PORT:-8080}`);
  return out;
}

/** The argv the local runtime spawns for a Python or Go artifact (a shell only where the command needs one). */
export function localStartArgv(a: Pick<Analysis, 'start_command' | 'start_argv'>): string[] {
  const local = localStartCommand(a.start_command);
  return local === a.start_command ? a.start_argv : toArgv(local);
}
