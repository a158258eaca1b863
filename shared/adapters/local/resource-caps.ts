/**
 * What the local runtime can enforce of a revision's resources: a memory cap on a Node service,
 * as V8's old-space limit (NODE_OPTIONS=--max-old-space-size). It is a heap cap, not a process
 * cap (buffers and native memory are outside it), and a service that is not Node ignores it.
 * CPU and storage are not limited at all: that would need cgroups or a container engine.
 */
export function withMemoryCap(env: Record<string, string>, memoryMb: number | undefined): Record<string, string> {
  if (memoryMb === undefined) return env;
  const own = env.NODE_OPTIONS ?? '';
  // The service's own heap setting wins: it knows its memory better than a default does.
  if (/--max-old-space-size/.test(own)) return env;
  return { ...env, NODE_OPTIONS: `${own} --max-old-space-size=${memoryMb}`.trim() };
}
