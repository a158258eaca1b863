import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { codeOf, PRIVATE_DIR, PRIVATE_FILE } from './fs-util.js';
import { type ProcessRecord, startTimeOf } from './process.js';

const LockSchema = z.object({ pid: z.number(), start: z.string(), since: z.string() });

export class DataFolderInUseError extends Error {}

/**
 * The one stack that may use a data folder: `stack.lock` holds its PID and that process's start
 * time. A lock whose process is gone (or whose PID now belongs to another process) is stale and
 * taken over; a live one refuses the start, naming the PID.
 */
export class DataLock {
  private constructor(
    readonly file: string,
    private readonly mine: string,
  ) {}

  static acquire(dataDir: string): DataLock {
    mkdirSync(dataDir, { recursive: true, mode: PRIVATE_DIR });
    const file = join(dataDir, 'stack.lock');
    const start = startTimeOf(process.pid) ?? 'unknown';
    const mine = JSON.stringify({ pid: process.pid, start, since: new Date().toISOString() });
    for (let attempt = 0; ; attempt++) {
      try {
        writeFileSync(file, mine, { flag: 'wx', mode: PRIVATE_FILE });
        return new DataLock(file, mine);
      } catch (err) {
        if (codeOf(err) !== 'EEXIST' || attempt > 0) throw err;
      }
      const holder = readHolder(file);
      if (holder && isAlive(holder)) {
        throw new DataFolderInUseError(
          `The data folder ${dataDir} is in use by another Baton stack (PID ${holder.pid}, running since ${holder.since}). Stop it first (kill ${holder.pid}), or set BATON_DATA_DIR to another folder`,
        );
      }
      console.warn(
        `baton: taking over ${file}${holder ? ` from PID ${holder.pid}, which is no longer running` : ', which holds no readable lock'}`,
      );
      unlinkSync(file);
    }
  }

  /** Removes the lock if it is still this stack's. */
  release(): void {
    try {
      if (readFileSync(this.file, 'utf8') === this.mine) unlinkSync(this.file);
    } catch {
      // Already gone.
    }
  }
}

function readHolder(file: string): z.infer<typeof LockSchema> | null {
  try {
    const parsed = LockSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function isAlive(rec: ProcessRecord): boolean {
  const start = startTimeOf(rec.pid);
  // Without /proc, a PID that answers signal 0 is taken as alive: refusing is the safe side.
  if (start === null) return rec.start === 'unknown' && signalable(rec.pid);
  return start === rec.start;
}

function signalable(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return codeOf(err) === 'EPERM';
  }
}
