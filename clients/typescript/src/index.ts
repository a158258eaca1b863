/** @baton/client: Baton's typed HTTP client (Node 18+ and browsers; fetch and zod only). */
export * from './client.js';
export * from './designs.js';
export * from './errors.js';
export { type RetryPolicy, retryAfterMs, retryDelayMs } from './retry.js';
export * from './schemas.js';
export { type SseEvent, SseParser, unseenLines } from './sse.js';
