import { Ajv, type ValidateFunction } from 'ajv';
import { RequestError } from './errors.js';

/**
 * An endpoint's input schema: JSON Schema (draft-07, what ajv 8 reads by default), compiled once
 * per schema text at deploy time and cached. A request that does not match is a 400 naming the
 * field (`input.customer.id`). Schemas may not fetch anything: `$ref` to a remote URI fails to
 * compile (no loadSchema is configured). Pure.
 */

const ajv = new Ajv({ allErrors: false, strict: false, validateSchema: true });
const cache = new Map<string, ValidateFunction>();
const CACHE_MAX = 500;

export function compileInputSchema(schema: Record<string, unknown>, field = 'input_schema'): ValidateFunction {
  const key = JSON.stringify(schema);
  const hit = cache.get(key);
  if (hit) return hit;
  let fn: ValidateFunction;
  try {
    fn = ajv.compile(schema);
  } catch (err) {
    throw new RequestError(
      'invalid',
      `${field}: not a JSON Schema ajv can compile: ${err instanceof Error ? err.message : String(err)}`,
      field,
    );
  }
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(key, fn);
  return fn;
}

/** Throws a 400 naming the first field at fault. */
export function checkInput(schema: Record<string, unknown>, input: unknown): void {
  const validate = compileInputSchema(schema);
  if (validate(input)) return;
  const e = validate.errors?.[0];
  const pointer = e?.instancePath ?? '';
  const missing = e?.keyword === 'required' ? `/${String((e.params as { missingProperty?: string }).missingProperty)}` : '';
  const field = `input${(pointer + missing).replace(/\/([^/]*)/g, (_m, k: string) => (/^\d+$/.test(k) ? `[${k}]` : `.${k.replace(/~1/g, '/').replace(/~0/g, '~')}`))}`;
  const message = e?.keyword === 'required' ? 'is required' : (e?.message ?? 'does not match the input schema');
  throw new RequestError('invalid', `${field}: ${message} (the endpoint's input_schema)`, field);
}
