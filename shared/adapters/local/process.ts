import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Splits a stream into lines and hands each to `onLine`. */
export function onLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let rest = '';
  stream.on('data', (d: Buffer) => {
    const parts = (rest + d.toString('utf8')).split(/\r?\n/);
    rest = parts.pop() ?? '';
    for (const p of parts) if (p.trim().length > 0) onLine(p);
  });
  stream.on('end', () => {
    if (rest.trim().length > 0) onLine(rest);
    rest = '';
  });
}

/** Runs a shell command in its own process group, so the whole tree can be stopped; as `user` when given. */
export function spawnGroup(command: string, opts: { cwd: string; env: NodeJS.ProcessEnv; user?: ProcessUser | null }): ChildProcess {
  return spawn('/bin/sh', ['-c', command], {
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.user ? { uid: opts.user.uid, gid: opts.user.gid } : {}),
  });
}

export interface ProcessUser {
  uid: number;
  gid: number;
}

/** nobody:nogroup on Linux. */
export const UNPRIVILEGED: ProcessUser = { uid: 65534, gid: 65534 };

/**
 * Who runs deployed revisions: an unprivileged user when Baton runs as root, so Baton's 0600/0700
 * state is closed to them; otherwise Baton's own user (null), which the local target cannot
 * prevent from reading Baton's files.
 */
export function revisionUser(): ProcessUser | null {
  return process.getuid?.() === 0 ? UNPRIVILEGED : null;
}

/**
 * Stops a process group: SIGTERM to every member, SIGKILL to what is left after `graceMs`.
 * Resolves when no member is alive. It waits on the group, not the shell that leads it: the shell
 * dies at once on SIGTERM while the service it started may still be shutting down.
 */
export async function stopGroup(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.pid !== undefined) await stopGroupOf(child.pid, graceMs);
}

async function stopGroupOf(pid: number, graceMs: number): Promise<void> {
  if (!groupAlive(pid)) return;
  signal(pid, 'SIGTERM');
  if (await waitGone(pid, graceMs)) return;
  signal(pid, 'SIGKILL');
  await waitGone(pid, 1000);
}

/** A process as recorded in saved state: its PID and its start time, so a reused PID is not taken for it. */
export interface ProcessRecord {
  pid: number;
  /** /proc/<pid>/stat starttime (clock ticks since boot). */
  start: string;
}

/** The start time of a live process (/proc/<pid>/stat field 22), or null when there is none. */
export function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name start at field 3 (state); starttime is field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

export function recordOf(child: ChildProcess): ProcessRecord | null {
  const start = child.pid === undefined ? null : startTimeOf(child.pid);
  return child.pid !== undefined && start !== null ? { pid: child.pid, start } : null;
}

/**
 * Whether the process group a previous run recorded (spawnGroup: its leader's PID is the group's
 * id) still has members. Its leader alive with another start time is a reused PID: not ours. Its
 * leader gone while members of the group remain is ours: Linux hands out no PID that is still a
 * group's id, so no new group can carry it.
 */
export function recordedGroupAlive(rec: ProcessRecord): boolean {
  const leaderStart = startTimeOf(rec.pid);
  if (leaderStart !== null && leaderStart !== rec.start) return false;
  return groupAlive(rec.pid);
}

/** Stops a group a previous run left (see recordedGroupAlive); true when there was one to stop. */
export async function stopRecordedGroup(rec: ProcessRecord, graceMs = 2000): Promise<boolean> {
  if (!recordedGroupAlive(rec)) return false;
  await stopGroupOf(rec.pid, graceMs);
  return true;
}

async function waitGone(pgid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!groupAlive(pgid)) return true;
    await new Promise((r) => setTimeout(r, 15));
  }
  return !groupAlive(pgid);
}

/** A group is alive while a member is; on Linux a zombie waiting to be reaped does not count. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command name: state, ppid, pgrp, …
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') return true;
  }
  return false;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // Already gone.
  }
}

/** The environment child processes get: the machine's, without the control plane's own settings. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('BATON_') || k.startsWith('VITEST') || k === 'PORT' || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}
