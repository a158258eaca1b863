/** An HTTP GET against a revision, for verification: status and body, never throwing on non-2xx. */
export interface HttpProbe {
  get(url: string, timeoutMs: number): Promise<{ status: number; body: string } | { error: string }>;
}
