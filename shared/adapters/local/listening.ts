import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * The TCP ports a process group listens on, read from /proc (Linux): the group's processes
 * (/proc/<pid>/stat, field 5 is the process group), the socket inodes their descriptors hold
 * (/proc/<pid>/fd/* → `socket:[inode]`), and the sockets in LISTEN state (`0A`) among
 * /proc/net/tcp and tcp6 with those inodes. Lets the runtime tell at once that a revision listens
 * on some other port than $PORT, instead of waiting out its start timeout. Reading another
 * user's /proc/<pid>/fd needs root (as when revisions run as nobody) or the same user; anything
 * unreadable counts as no socket, so the check can only be late, never wrong. Empty off Linux.
 */
export function listeningPorts(processGroup: number): number[] {
  const inodes = socketInodes(groupMembers(processGroup));
  if (inodes.size === 0) return [];
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readLines(table).slice(1)) {
      const cols = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
      if (cols[3] !== '0A' || !inodes.has(cols[9] ?? '')) continue;
      const port = Number.parseInt(cols[1]?.split(':')[1] ?? '', 16);
      if (Number.isInteger(port)) ports.add(port);
    }
  }
  return [...ports].sort((a, b) => a - b);
}

function groupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const members: number[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // After "pid (comm) ": state ppid pgrp …
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) members.push(Number(name));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return members;
}

function socketInodes(pids: number[]): Set<string> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch {
        // Closed meanwhile.
      }
    }
  }
  return inodes;
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n');
  } catch {
    return [];
  }
}
