import { describe, expect, it } from 'vitest';
import { agentUrlProblem, isForbiddenAddress } from '../../shared/domain/agent-url.js';
import { PREVIEW_BYTES, previewOf, redactKeys } from '../../shared/domain/preview.js';

describe('agent URLs', () => {
  it('always refuses the metadata server and link-local addresses, whatever the allow-list', () => {
    for (const url of [
      'http://169.254.169.254/computeMetadata/v1/',
      'http://metadata.google.internal/',
      'http://metadata/',
      'http://[fe80::1]/',
      'http://[::ffff:169.254.169.254]/',
      'http://[fd00:ec2::254]/',
    ]) {
      expect(agentUrlProblem(url, ['*']), url).toMatch(/always refused/);
    }
    expect(agentUrlProblem('http://169.254.1.1/', [], { baton: true })).toMatch(/always refused/);
  });

  it('checks url agents against the allow-list: hosts, subdomain wildcards, ports', () => {
    expect(agentUrlProblem('https://api.example.com/x', ['api.example.com'])).toBeNull();
    expect(agentUrlProblem('https://a.b.example.com/x', ['*.example.com'])).toBeNull();
    expect(agentUrlProblem('https://example.com/x', ['*.example.com'])).toMatch(/not in the agent URL allow-list/);
    expect(agentUrlProblem('http://127.0.0.1:8080/', ['127.0.0.1:8080'])).toBeNull();
    expect(agentUrlProblem('http://127.0.0.1:9090/', ['127.0.0.1:8080'])).toMatch(/127.0.0.1:9090 is not in/);
    expect(agentUrlProblem('http://127.0.0.1:9090/', ['127.0.0.1:*'])).toBeNull();
    expect(agentUrlProblem('https://u:p@api.example.com/', ['*'])).toMatch(/credentials/);
    expect(agentUrlProblem('ftp://x/', ['*'])).toMatch(/ftp:/);
  });

  it('tells link-local addresses from others', () => {
    expect(isForbiddenAddress('169.254.0.1')).toBe(true);
    expect(isForbiddenAddress('::ffff:a9fe:a9fe')).toBe(true);
    expect(isForbiddenAddress('febf::1')).toBe(true);
    expect(isForbiddenAddress('10.0.0.1')).toBe(false);
    expect(isForbiddenAddress('fec0::1')).toBe(false);
    expect(isForbiddenAddress('127.0.0.1')).toBe(false);
  });
});

describe('previews', () => {
  it('redacts secret-looking keys at any depth before hashing and cutting', () => {
    expect(redactKeys({ a: { api_key: 'k', Authorization: 'Bearer x', nested: [{ password: 'p' }] }, ok: 1 })).toEqual({
      a: { api_key: '<redacted>', Authorization: '<redacted>', nested: [{ password: '<redacted>' }] },
      ok: 1,
    });
    const p = previewOf({ token: 'secret-value' });
    expect(p.preview).not.toContain('secret-value');
  });

  it('truncates past the limit and says so, with the size and sha256 of the whole', () => {
    const small = previewOf({ a: 1 });
    expect(small).toMatchObject({ preview: '{"a":1}', truncated: false, bytes: 7 });
    expect(small.sha256).toMatch(/^[0-9a-f]{64}$/);
    const big = previewOf({ text: 'é'.repeat(5000) });
    expect(big.truncated).toBe(true);
    expect(Buffer.byteLength(big.preview)).toBeLessThanOrEqual(PREVIEW_BYTES);
    expect(big.bytes).toBe(Buffer.byteLength(JSON.stringify({ text: 'é'.repeat(5000) })));
    expect(big.preview).not.toContain('\uFFFD');
  });
});
