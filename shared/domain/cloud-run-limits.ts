/**
 * Cloud Run's accepted resource settings for a service (docs: configuring/services/cpu and
 * memory-limits; run/v2 ResourceRequirements): what a request may ask for, checked before
 * anything is deployed so a refusal is a 400 naming the field rather than a failed deployment.
 */

/** Whole CPUs Cloud Run offers; below 1, any value from 0.08 in steps of 0.001. */
export const WHOLE_CPUS = [1, 2, 4, 6, 8] as const;
/** Cloud Run's defaults when a limit is not given. */
export const DEFAULT_CPU = 1;
export const DEFAULT_MEMORY_MB = 512;
/** A service's startup probe may take at most this long in all (period × failure threshold). */
export const MAX_STARTUP_SECONDS = 240;

/** Memory (MiB) each CPU setting allows. */
function memoryRange(cpu: number): { min: number; max: number } {
  if (cpu < 0.5) return { min: 128, max: 512 };
  if (cpu < 1) return { min: 128, max: 1024 };
  if (cpu <= 1) return { min: 128, max: 4096 };
  if (cpu <= 2) return { min: 128, max: 8192 };
  if (cpu <= 4) return { min: 2048, max: 16384 };
  if (cpu <= 6) return { min: 4096, max: 24576 };
  return { min: 4096, max: 32768 };
}

export interface LimitsInput {
  memory_mb?: number;
  cpu_cores?: number;
  concurrent_tasks?: number;
}

export interface LimitProblem {
  field: 'memory_mb' | 'cpu_cores' | 'concurrent_tasks';
  message: string;
}

/** The first setting Cloud Run would refuse, or null. */
export function cloudRunLimitProblem(limits: LimitsInput): LimitProblem | null {
  const cpu = limits.cpu_cores ?? DEFAULT_CPU;
  if (cpu >= 1 && !(WHOLE_CPUS as readonly number[]).includes(cpu)) {
    return { field: 'cpu_cores', message: `must be ${WHOLE_CPUS.join(', ')} or a fraction below 1: Cloud Run offers no ${cpu} CPUs` };
  }
  if (cpu < 1 && Math.abs(cpu * 1000 - Math.round(cpu * 1000)) > 1e-6) {
    return { field: 'cpu_cores', message: 'below 1 CPU, Cloud Run takes steps of 0.001' };
  }
  if (cpu < 1 && (limits.concurrent_tasks ?? 1) > 1) {
    return { field: 'concurrent_tasks', message: `must be 1 with less than 1 CPU (${cpu}): Cloud Run allows no concurrency there` };
  }
  const memory = limits.memory_mb ?? DEFAULT_MEMORY_MB;
  const range = memoryRange(cpu);
  if (memory < range.min || memory > range.max) {
    const field = limits.memory_mb === undefined ? 'cpu_cores' : 'memory_mb';
    return {
      field,
      message: `${memory} MiB of memory with ${cpu} CPU${cpu === 1 ? '' : 's'} is refused by Cloud Run: that CPU setting takes ${range.min}–${range.max} MiB`,
    };
  }
  return null;
}
