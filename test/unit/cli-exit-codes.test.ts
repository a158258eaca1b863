import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { completionScript } from '../../shared/cli/completion.js';
import { EXIT, exitCodeOf } from '../../shared/cli/exit-codes.js';

describe('baton exit codes', () => {
  it('map final statuses: completed 0, failed 1, rolled back 2, cancelled 3; a rollback job is done at rolled_back', () => {
    expect(exitCodeOf({ kind: 'deployment', status: 'completed' })).toBe(0);
    expect(exitCodeOf({ kind: 'deployment', status: 'failed' })).toBe(1);
    expect(exitCodeOf({ kind: 'deployment', status: 'rolled_back' })).toBe(2);
    expect(exitCodeOf({ kind: 'deployment', status: 'cancelled' })).toBe(3);
    expect(exitCodeOf({ kind: 'rollback', status: 'rolled_back' })).toBe(0);
    expect(exitCodeOf({ kind: 'rollback', status: 'failed' })).toBe(1);
    expect(EXIT.badInput).toBe(4);
  });

  it("the bash completion is valid bash and completes commands and a command's options", () => {
    const script = completionScript('bash', { deploy: { options: ['agent', 'wait'] }, status: { options: ['limit'] } }, ['json']);
    const complete = (words: string[]) =>
      execFileSync(
        'bash',
        [
          '-c',
          `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _baton; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: 'utf8' },
      ).trim();
    expect(complete(['baton', 'de'])).toBe('deploy');
    expect(complete(['baton', 'deploy', '--'])).toBe('--agent --wait --json');
    expect(complete(['baton', 'status', '--'])).toBe('--limit --json');
  });
});
