import { describe, expect, it } from 'vitest';
import { chooseNode } from '../../shared/adapters/local/revision-env.js';
import { satisfiesNodeRange } from '../../shared/domain/node-range.js';

describe('engines.node ranges', () => {
  it.each([
    ['v22.23.3', '>=18', true],
    ['v22.23.3', '>=18 <22', false],
    ['v22.23.3', '^20.11.0', false],
    ['v20.20.2', '^20.11.0', true],
    ['v20.10.0', '^20.11.0', false],
    ['v18.2.9', '~18.2', true],
    ['v18.3.0', '~18.2', false],
    ['v20.1.0', '20.x', true],
    ['v21.0.0', '20.x', false],
    ['v20.1.0', '18 || 20', true],
    ['v19.1.0', '18 || 20', false],
    ['v22.0.0', '18.0.0 - 20', false],
    ['v20.9.9', '18.0.0 - 20', true],
    ['v20.0.0', '18 - 20.0.0', true],
    ['v22.1.0', '*', true],
    ['v22.1.0', '>= 22.1', true],
    ['v22.1.0', '>22', false],
    ['v23.0.0', '>22', true],
    ['v22.1.0', '<=22', true],
    ['v0.2.5', '^0.2.3', true],
    ['v0.3.0', '^0.2.3', false],
    ['v22.1.0', '22.1.0', true],
  ])('%s against %s: %s', (version, range, expected) => {
    expect(satisfiesNodeRange(version, range)).toBe(expected);
  });

  it('says it cannot read a range it does not understand instead of guessing', () => {
    expect(satisfiesNodeRange('v22.1.0', 'lts/iron')).toBeNull();
    expect(satisfiesNodeRange('v22.1.0', 'latest || 22')).toBe(true);
  });
});

describe('the Node a revision runs on', () => {
  const own = { path: '/opt/baton/node', version: 'v22.23.3' };
  const system = { path: '/usr/bin/node', version: 'v20.20.2' };

  it("is Baton's own when nothing is asked or Baton's satisfies the range", () => {
    expect(chooseNode(undefined, [own, system])).toEqual({ ...own, note: null });
    expect(chooseNode('>=18', [own, system]).path).toBe(own.path);
  });

  it('is a system one when only it satisfies engines.node, saying which', () => {
    const choice = chooseNode('20.x', [own, system]);
    expect(choice.path).toBe(system.path);
    expect(choice.note).toContain('running Node v20.20.2 (/usr/bin/node)');
  });

  it("is Baton's when none satisfies it, and the note says so and what to do", () => {
    const choice = chooseNode('>=24', [own, system]);
    expect(choice.path).toBe(own.path);
    expect(choice.note).toMatch(
      /not satisfied by any Node found \(v22\.23\.3 .*v20\.20\.2 .*\): running Node v22\.23\.3, the one running Baton/,
    );
  });
});
