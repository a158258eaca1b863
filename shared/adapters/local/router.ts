import { Agent, createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { RequestStats } from './request-stats.js';

/** Picks the backend port for one request (and names its revision), or explains why there is none. */
export type Route = () => { port: number; revision?: string } | { error: string; revision?: string };

const agent = new Agent({ keepAlive: true, maxSockets: 512 });

/**
 * The local stand-in for Cloud Run's front end: one listener per service URL and per tag URL on
 * 127.0.0.1, each proxying to the revision its route picks, with the request's path unchanged.
 */
export class Router {
  private readonly servers = new Map<string, Server>();
  /**
   * What each service URL served, per revision (the canary analysis reads it). Only the service
   * URLs count: a tag URL is Baton's own probing of a candidate, not traffic the split sent it.
   */
  readonly stats = new RequestStats();

  /**
   * Listens for `key` (on `preferredPort` when it is free, so URLs stay stable across restarts);
   * with `countFor`, each request's status and latency are counted for that service and the revision routed to.
   */
  async listen(key: string, route: Route, preferredPort?: number, countFor?: string): Promise<number> {
    const existing = this.servers.get(key);
    if (existing) return (existing.address() as AddressInfo).port;
    const count =
      countFor === undefined
        ? undefined
        : (revision: string, status: number, ms: number) => this.stats.record(countFor, revision, status, ms);
    const server = createServer((req, res) => proxy(req, res, route, count));
    server.keepAliveTimeout = 5000;
    const port = await listenOn(server, preferredPort ?? 0).catch(() => listenOn(server, 0));
    this.servers.set(key, server);
    return port;
  }

  async close(key: string): Promise<void> {
    const server = this.servers.get(key);
    if (!server) return;
    this.servers.delete(key);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.servers.keys()].map((k) => this.close(k)));
  }
}

function listenOn(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

type Count = (revision: string, status: number, ms: number) => void;

function proxy(req: IncomingMessage, res: ServerResponse, route: Route, count?: Count): void {
  const target = route();
  if (count && target.revision !== undefined) {
    // Counted when the answer is over (or the connection gone): its status and the whole request's time.
    const started = performance.now();
    const revision = target.revision;
    res.once('close', () => count(revision, res.headersSent ? res.statusCode : 502, performance.now() - started));
  }
  if ('error' in target) {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: target.error }));
    return;
  }
  const upstream = request(
    { host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  upstream.on('error', (err) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: `the revision did not answer: ${err.message}` }));
  });
  req.pipe(upstream);
}

/** A free port on 127.0.0.1 for a revision to listen on. */
export async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listenOn(server, 0);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
