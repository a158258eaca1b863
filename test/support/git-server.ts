import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * A git server on 127.0.0.1 for the tests: `git http-backend` as CGI behind node:http, serving
 * bare repositories made from file maps. A repository named `private-*` answers 401 unless the
 * request carries Basic auth with the token. With `tls`, it serves https:// with a certificate for
 * 127.0.0.1 made by openssl for the run (`caFile`: give it to git as GIT_SSL_CAINFO). What it
 * does not prove: GitHub's own behaviour (its token user names, rate limits, partial clone filters).
 */
export interface GitServer {
  url: string;
  /** With `tls`: the PEM certificate a client must trust. */
  caFile: string | null;
  /** Makes a bare repository `name.git` with one commit of `files` on `main` and tag v1; returns its sha. */
  repo(name: string, files: Record<string, string>): string;
  requests: { path: string; auth: string | null }[];
  close(): Promise<void>;
}

export async function startGitServer(token: string, options: { tls?: boolean } = {}): Promise<GitServer> {
  const root = mkdtempSync(join(tmpdir(), 'baton-git-'));
  const requests: { path: string; auth: string | null }[] = [];
  const expected = `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ path: url.pathname, auth: req.headers.authorization ?? null });
    if (url.pathname.startsWith('/private-') && req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end();
      return;
    }
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_ADDR: '127.0.0.1',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) } : {}),
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let started = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (started) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      started = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const [k, ...v] = line.split(':');
        if (k.toLowerCase() === 'status') status = Number.parseInt(v.join(':'), 10);
        else res.setHeader(k, v.join(':').trim());
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
    });
    cgi.on('close', () => res.end());
  };
  let caFile: string | null = null;
  let server: Server;
  if (options.tls) {
    caFile = join(root, 'cert.pem');
    const keyFile = join(root, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        keyFile,
        '-out',
        caFile,
      ],
      { stdio: 'ignore' },
    );
    server = createTlsServer({ key: readFileSync(keyFile), cert: readFileSync(caFile) }, handler) as unknown as Server;
  } else {
    server = createServer(handler);
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', args, {
      cwd,
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_CONFIG_NOSYSTEM: '1',
        HOME: root,
        GIT_AUTHOR_NAME: 't',
        GIT_AUTHOR_EMAIL: 't@x',
        GIT_COMMITTER_NAME: 't',
        GIT_COMMITTER_EMAIL: 't@x',
      },
    });
  return {
    url,
    caFile,
    requests,
    repo(name, files) {
      const work = join(root, `work-${name}`);
      for (const [p, content] of Object.entries(files)) {
        mkdirSync(dirname(join(work, p)), { recursive: true });
        writeFileSync(join(work, p), content);
      }
      git(work, 'init', '-q', '-b', 'main');
      git(work, 'add', '-A');
      git(work, 'commit', '-qm', 'init');
      git(work, 'tag', 'v1');
      git(root, 'clone', '-q', '--bare', work, `${name}.git`);
      git(join(root, `${name}.git`), 'config', 'uploadpack.allowAnySHA1InWant', 'true');
      return git(work, 'rev-parse', 'HEAD').trim();
    },
    close: () =>
      new Promise<void>((r) =>
        server.close(() => {
          rmSync(root, { recursive: true, force: true });
          r();
        }),
      ),
  };
}
