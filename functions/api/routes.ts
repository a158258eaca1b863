import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';

/**
 * The API's route table: one entry per method and path template, with what the OpenAPI document
 * says about it (functions/api/openapi.ts builds the document from this table, and the router
 * matches requests against it, so the two cannot disagree about which paths exist).
 */

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], url: URL) => Promise<void>;

/** One success answer: a JSON body of `schema`, a Server-Sent Events stream, or none. */
export type ResponseDoc =
  | { description: string; schema: z.ZodType }
  | { description: string; events: Record<string, z.ZodType> }
  | { description: string };

export interface RouteDoc {
  summary: string;
  /** Groups operations in the document (deployments, services, designs …). */
  tag: string;
  /** The path's `{name}` parameters, each validated by its schema. */
  params?: Record<string, z.ZodType>;
  query?: z.ZodObject;
  /** A JSON body, or a multipart/form-data body described by an object schema of its parts. */
  body?: { json: z.ZodType } | { multipart: z.ZodObject };
  /** Success answers by status; every operation also documents the error body. */
  responses: Record<number, ResponseDoc>;
  /** The one (last) parameter that matches the rest of the path, slashes included. */
  rest?: string;
}

export interface Route {
  method: Method;
  /** OpenAPI template: `/deployments/{id}/logs`. */
  path: string;
  pattern: RegExp;
  doc: RouteDoc;
  handler: Handler;
}

/** A route from its template: `{name}` matches one path segment, handed to the handler in order. */
export function route(method: Method, path: string, doc: RouteDoc, handler: Handler): Route {
  const names = [...path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]);
  const declared = Object.keys(doc.params ?? {});
  if (names.join() !== declared.join())
    throw new Error(`route ${method} ${path}: its doc declares params [${declared}], the template has [${names}]`);
  if (doc.rest !== undefined && names.at(-1) !== doc.rest) throw new Error(`route ${method} ${path}: rest must be the last parameter`);
  const literals = path.split(/\{[a-z_]+\}/).map((literal) => literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const source = literals.map((l, i) => (i === 0 ? l : `${i === names.length && doc.rest ? '(.+)' : '([^/]+)'}${l}`)).join('');
  return { method, path, pattern: new RegExp(`^${source}$`), doc, handler };
}
