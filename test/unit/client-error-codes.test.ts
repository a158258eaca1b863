import { describe, expect, it } from 'vitest';
import { API_ERROR_CODES as CLIENT_CODES } from '../../clients/typescript/src/errors.js';
import { API_ERROR_CODES as SERVER_CODES } from '../../shared/api/schemas.js';

/**
 * The client package keeps its own copy of the API's error codes (it is published on its own and
 * cannot import the server's modules); this keeps the two lists from drifting apart.
 */
describe('the TypeScript client’s error codes', () => {
  it('are exactly the codes the API answers', () => {
    expect([...CLIENT_CODES].sort()).toEqual([...SERVER_CODES].sort());
  });
});
