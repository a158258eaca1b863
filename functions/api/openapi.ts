import { z } from 'zod';
import { ApiErrorSchema } from '../../shared/api/schemas.js';
import type { Route } from './routes.js';

/**
 * The OpenAPI 3.1 document of the API, generated from its route table and the zod schemas each
 * route names (zod's own JSON Schema output, draft 2020-12, which is OpenAPI 3.1's dialect).
 * Schemas with a `.meta({id})` become components; everything else is inlined where it is used.
 */

type JsonSchema = Record<string, unknown>;

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, JsonSchema> };
}

export function openApiDocument(routes: readonly Route[], version: string): OpenApiDocument {
  const components: Record<string, JsonSchema> = {};
  const schema = (s: z.ZodType, io: 'input' | 'output'): JsonSchema => hoist(toJson(s, io), components);
  const paths: OpenApiDocument['paths'] = {};
  for (const r of routes) {
    const doc = r.doc;
    const parameters = [
      ...Object.entries(doc.params ?? {}).map(([name, s]) => ({ name, in: 'path', required: true, schema: schema(s, 'input') })),
      ...Object.entries(doc.query?.shape ?? {}).map(([name, s]) => ({
        name,
        in: 'query',
        required: !(s as z.ZodType).safeParse(undefined).success,
        schema: schema(s as z.ZodType, 'input'),
      })),
    ];
    const responses: Record<string, unknown> = {};
    for (const [status, res] of Object.entries(doc.responses)) {
      if ('schema' in res)
        responses[status] = { description: res.description, content: { 'application/json': { schema: schema(res.schema, 'output') } } };
      else if ('events' in res) {
        // OpenAPI 3.1 cannot type the events of a stream (3.2's itemSchema can): an extension carries each event's data schema.
        const events = Object.fromEntries(Object.entries(res.events).map(([name, s]) => [name, schema(s, 'output')]));
        responses[status] = {
          description: `${res.description} (Server-Sent Events: ${Object.keys(res.events).join(', ')}; each event's data is one JSON value)`,
          content: { 'text/event-stream': { schema: { type: 'string' }, 'x-sse-events': events } },
        };
      } else responses[status] = { description: res.description };
    }
    responses.default = {
      description: 'Refused: 400 bad input, 404 unknown, 405, 409 conflict, 413 too large, 503 try again',
      content: { 'application/json': { schema: schema(ApiErrorSchema, 'output') } },
    };
    const body = doc.body
      ? 'json' in doc.body
        ? { required: true, content: { 'application/json': { schema: schema(doc.body.json, 'input') } } }
        : { required: true, content: { 'multipart/form-data': { schema: schema(doc.body.multipart, 'input') } } }
      : undefined;
    paths[r.path] ??= {};
    paths[r.path][r.method.toLowerCase()] = {
      operationId: operationId(r),
      summary: doc.summary,
      tags: [doc.tag],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(body ? { requestBody: body } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Baton',
      version,
      description:
        'Deployment control plane for Google Cloud serverless, runnable locally. Generated from the zod schemas the API validates with.',
    },
    paths,
    components: { schemas: components },
  };
}

/** `GET /deployments/{id}/logs` → `getDeploymentsIdLogs`: stable, unique per method and path. */
export function operationId(r: Pick<Route, 'method' | 'path'>): string {
  const words = r.path.split(/[/{}_.-]+/).filter(Boolean);
  return r.method.toLowerCase() + words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
}

function toJson(s: z.ZodType, io: 'input' | 'output'): JsonSchema {
  // unrepresentable: transforms and refinements are checked by the server; their shape is what is documented.
  const { $schema: _, ...rest } = z.toJSONSchema(s, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

/** Moves `$defs` into the components and points their `$ref`s there; one id must mean one schema. */
function hoist(json: JsonSchema, components: Record<string, JsonSchema>): JsonSchema {
  const defs = (json.$defs ?? {}) as Record<string, JsonSchema>;
  const { $defs: _, ...root } = json;
  for (const [id, def] of Object.entries(defs)) {
    const moved = rewriteRefs(def) as JsonSchema;
    const known = components[id];
    if (known && JSON.stringify(known) !== JSON.stringify(moved))
      throw new Error(`schema id ${id} stands for two different schemas (an input and an output?): give one another id`);
    components[id] = moved;
  }
  return rewriteRefs(root) as JsonSchema;
}

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      k === '$ref' && typeof v === 'string' ? v.replace(/^#\/\$defs\//, '#/components/schemas/') : rewriteRefs(v),
    ]),
  );
}
