import { describe, expect, it } from 'vitest';
import {
  agentIdFromFolder,
  parseCanaryThresholds,
  parseEnvFlags,
  parseSecretFlags,
  parseStartTimeout,
  parseStrategy,
  UsageError,
} from '../../shared/cli/deploy-options.js';
import { DotenvError, parseDotenv } from '../../shared/cli/dotenv.js';

describe('parseDotenv', () => {
  it('reads comments, blank lines, export, quotes, escapes, inline comments and multi-line values', () => {
    const text = [
      '\uFEFF# a comment',
      '',
      'PLAIN=value with spaces  ',
      'export EXPORTED=1',
      '  SPACED = around ',
      'INLINE=abc # a comment',
      'HASH=abc#def',
      'EMPTY=',
      'DQ="a \\"quoted\\" \\\\ word\\nnext"',
      "SQ='literal \\n $HOME # not a comment'",
      'AFTER="x" # trailing comment',
      'URL=postgres://u:p@h/db?x=1',
      'MULTI="line one',
      'line two"',
      "KEY='-----BEGIN-----",
      'abc',
      "-----END-----'",
      'PLAIN=later wins\r',
    ].join('\n');
    expect(parseDotenv(text, '.env')).toEqual({
      PLAIN: 'later wins',
      EXPORTED: '1',
      SPACED: 'around',
      INLINE: 'abc',
      HASH: 'abc#def',
      EMPTY: '',
      DQ: 'a "quoted" \\ word\nnext',
      SQ: 'literal \\n $HOME # not a comment',
      AFTER: 'x',
      URL: 'postgres://u:p@h/db?x=1',
      MULTI: 'line one\nline two',
      KEY: '-----BEGIN-----\nabc\n-----END-----',
    });
  });

  it.each([
    ['A=1\nJUST_A_WORD', 'prod.env:2: expected KEY=VALUE (a name, "=", then the value)'],
    ['1BAD=x', 'prod.env:1: "1BAD" is not a variable name (letters, digits and "_", not starting with a digit)'],
    ['A=1\n\nB="never closed\nC=3', 'prod.env:3: the value of B opens a " quote that is never closed'],
    ["A='x' trailing", 'prod.env:1: unexpected text after the closing quote of A (a comment needs "#")'],
  ])('names the file and line of a mistake: %j', (text, message) => {
    expect(() => parseDotenv(text, 'prod.env')).toThrow(new DotenvError(message));
  });

  it('never quotes the offending line, which may hold a secret', () => {
    expect(() => parseDotenv('API_TOKEN s3cr3t-value', '.env')).toThrow(/^(?!.*s3cr3t)/);
  });
});

describe('baton deploy option parsers', () => {
  it('--env and --secret take KEY=VALUE, the value may hold "="; a later --env wins', () => {
    expect(parseEnvFlags(['A=1', 'B=x=y', 'A=2', 'C='])).toEqual({ A: '2', B: 'x=y', C: '' });
    expect(parseSecretFlags(['DB_PASS=db-pass_2'])).toEqual({ DB_PASS: 'db-pass_2' });
    expect(() => parseEnvFlags(['staging'])).toThrow('--env takes KEY=VALUE; the environment tier is --environment staging');
    expect(() => parseEnvFlags(['NOVALUE'])).toThrow('--env takes KEY=VALUE, not "NOVALUE"');
    expect(() => parseEnvFlags(['my-var=1'])).toThrow('"my-var" is not a variable name');
    expect(() => parseSecretFlags(['DB=projects/p/secrets/x'])).toThrow('a secret name is 1-255 letters, digits, "-" or "_"');
    expect(() => parseSecretFlags(['DB'])).toThrow(UsageError);
  });

  it('--strategy: all-at-once or increasing whole percents ending at 100', () => {
    expect(parseStrategy('canary:10,50,100')).toEqual({ type: 'canary', steps: [10, 50, 100] });
    expect(parseStrategy('canary:100')).toEqual({ type: 'canary', steps: [100] });
    expect(parseStrategy('all-at-once')).toEqual({ type: 'all_at_once' });
    expect(parseStrategy(undefined)).toBeUndefined();
    const bad: [string, string][] = [
      ['canary', 'must be all-at-once or canary:<percent>,…,100'],
      ['blue-green', 'must be all-at-once or canary:<percent>,…,100'],
      ['canary:', '"" is not a whole percent from 1 to 100'],
      ['canary:10,,100', '"" is not a whole percent from 1 to 100'],
      ['canary:10.5,100', '"10.5" is not a whole percent from 1 to 100'],
      ['canary:0,100', '"0" is not a whole percent from 1 to 100'],
      ['canary:10,150', '"150" is not a whole percent from 1 to 100'],
      ['canary:50,10,100', 'the percents must increase'],
      ['canary:10,50', 'the last step must be 100'],
      ['canary:1,2,3,4,5,6,7,8,9,10,100', 'at most 10 steps'],
    ];
    for (const [raw, message] of bad) expect(() => parseStrategy(raw), raw).toThrow(message);
  });

  it('--start-timeout: seconds from 1 to 240', () => {
    expect(parseStartTimeout('90')).toBe(90);
    expect(parseStartTimeout('90s')).toBe(90);
    for (const raw of ['0', '241', 'soon', '', '-5']) expect(() => parseStartTimeout(raw), raw).toThrow('--start-timeout must be');
  });

  it('names an agent after its folder as gcloud names a service', () => {
    expect(agentIdFromFolder('/home/me/hello')).toBe('hello');
    expect(agentIdFromFolder('/src/My_Web App')).toBe('my-web-app');
    expect(agentIdFromFolder('/src/2024-shop.v2')).toBe('shop-v2');
    expect(agentIdFromFolder('/src/--nest--starter--')).toBe('nest-starter');
    expect(agentIdFromFolder(`/src/${'a'.repeat(39)}-b`)).toBe('a'.repeat(39));
    expect(() => agentIdFromFolder('/src/123')).toThrow('has no letters to make one from: give one with --agent <id>');
    expect(() => agentIdFromFolder('/tmp/baton-demo')).toThrow('gives "baton-demo", which must not start with "baton-"');
  });
});

describe('canary thresholds from flags', () => {
  it('reads a share or a percent, milliseconds, and a request count; leaves out what is not given', () => {
    expect(parseCanaryThresholds({ 'max-error-rate': '5%', 'max-latency': '250ms', 'min-requests': '30' })).toEqual({
      max_error_rate: 0.05,
      max_latency_ms: 250,
      min_requests: 30,
    });
    expect(parseCanaryThresholds({ 'max-error-rate': '0.2' })).toEqual({ max_error_rate: 0.2 });
    expect(parseCanaryThresholds({})).toEqual({});
  });

  it.each([
    [{ 'max-error-rate': '150%' }, '--max-error-rate must be a share'],
    [{ 'max-error-rate': '' }, '--max-error-rate must be a share'],
    [{ 'max-latency': '0' }, '--max-latency must be milliseconds'],
    [{ 'max-latency': 'fast' }, '--max-latency must be milliseconds'],
    [{ 'min-requests': '2.5' }, '--min-requests must be a whole number'],
    [{ 'min-requests': '0' }, '--min-requests must be a whole number'],
  ])('refuses %j saying what to type', (raw, message) => {
    expect(() => parseCanaryThresholds(raw)).toThrow(UsageError);
    expect(() => parseCanaryThresholds(raw)).toThrow(message);
  });
});
