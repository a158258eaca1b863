import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/api/index.js';
import { type Harness, harness } from '../support/fakes.js';
import { manyEntriesTarGz, tarGz, zerosTarGz, zip } from '../support/hostile-archives.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(h: Harness): Promise<string> {
  const api = createApi(h.deps, {
    maxUploadBytes: 4 * 1024 * 1024,
    archiveLimits: { maxEntries: 1000, maxBytes: 8 * 1024 * 1024, maxRatio: 100 },
    target: 'local',
  });
  const server = createServer((req, res) => void api(req, res));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function upload(url: string, archive: Buffer, name: string): Promise<Response> {
  const form = new FormData();
  form.set('agent_id', 'svc');
  form.set('config_file', new Blob(['name: svc\n']), 'service.yaml');
  form.set('source', new Blob([new Uint8Array(archive)]), name);
  return fetch(`${url}/deploy-from-file`, { method: 'POST', body: form });
}

const app = { path: 'package.json', content: '{"name":"app","scripts":{"start":"node index.js"}}' };

describe('POST /deploy-from-file checks the archive before accepting it', () => {
  it('a good archive is stored and queued (202)', async () => {
    const h = harness();
    const res = await upload(await serve(h), tarGz([app, { path: 'index.js', content: '1' }]), 'app.tar.gz');
    expect(res.status).toBe(202);
    expect(await h.deps.blobs.list('uploads/')).toHaveLength(1);
  });

  const hostile: [string, Buffer, string, number, RegExp][] = [
    ['a path with ".."', tarGz([app, { path: '../x', content: 'x' }]), 'a.tar.gz', 400, /"\.\.\/x" has "\.\."/],
    ['an absolute path', tarGz([app, { path: '/etc/x', content: 'x' }]), 'a.tar.gz', 400, /absolute path/],
    ['a link out of it', tarGz([app, { path: 'l', type: '2', linkpath: '../../etc' }]), 'a.tar.gz', 400, /outside the archive/],
    ['a device', tarGz([app, { path: 'null', type: '3' }]), 'a.tar.gz', 400, /"null" is a device file/],
    ['a hard link', tarGz([app, { path: 'h', type: '1', linkpath: 'package.json' }]), 'a.tar.gz', 400, /hard link/],
    ['a zip with a link to /', zip([app, { path: 'root', content: '/', mode: 0o120777 }]), 'a.zip', 400, /absolute path/],
    ['a gzip bomb', zerosTarGz(64 * 1024 * 1024), 'a.tar.gz', 413, /more than 8 MiB/],
    ['too many entries', manyEntriesTarGz(5000), 'a.tgz', 413, /more than 1000 entries/],
    ['not an archive', Buffer.from('not gzip at all'), 'a.tar.gz', 400, /cannot be read/],
  ];
  for (const [what, archive, name, status, message] of hostile) {
    it(`${what}: ${status}, naming it, with nothing stored or queued`, async () => {
      const h = harness();
      const res = await upload(await serve(h), archive, name);
      expect(res.status).toBe(status);
      const body = (await res.json()) as { error: { field: string; message: string } };
      expect(body.error.field).toBe('source');
      expect(body.error.message).toMatch(message);
      expect(await h.deps.blobs.list('uploads/')).toEqual([]);
      expect((await h.deps.jobs.list({ limit: 10 })).items).toEqual([]);
      expect(h.bus.published).toEqual([]);
    });
  }
});
