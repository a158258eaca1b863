import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * What an image's config is to Cloud Run, for a local artifact that is not Node: the command the
 * revision runs (the Dockerfile's CMD, with the local bind of shared/domain/analysis/local-start.ts),
 * its environment (ENV) and the folders, relative to the app, put first on PATH (the virtualenv's
 * bin). Written by LocalBuilder at the artifact's root, read by LocalRuntime; a Node artifact has
 * none and starts from package.json as it always did. A source's own file of this name is removed
 * before the build.
 */
export const IMAGE_CONFIG = '.baton-image.json';

export const ImageConfigSchema = z.strictObject({
  language: z.enum(['python', 'go']),
  argv: z.array(z.string()).min(1),
  env: z.record(z.string(), z.string()),
  path: z.array(z.string().regex(/^(?!\/)(?!.*\.\.)[^:]+$/, 'a folder inside the app')),
  virtual_env: z.string().nullable(),
});
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

/** The artifact's image config, null for a Node artifact (none); an unreadable one raises, naming the problem. */
export async function readImageConfig(appDir: string): Promise<ImageConfig | null> {
  const text = await readFile(join(appDir, IMAGE_CONFIG), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (text === null) return null;
  const parsed = ImageConfigSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${IMAGE_CONFIG} in the artifact is not valid: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

/**
 * A Python or Go revision's environment: the image's ENV under the revision's own (Cloud Run's
 * variables and the request's win, as they do over an image's ENV), the image's folders first on
 * PATH, and VIRTUAL_ENV pointing at the unpacked virtualenv.
 */
export function imageEnv(image: ImageConfig, appDir: string, base: Record<string, string>): Record<string, string> {
  const { NODE_ENV: _node, ...rest } = base;
  const path = [...image.path.map((p) => join(appDir, p)), base.PATH].join(':');
  return {
    ...image.env,
    ...rest,
    ...(image.virtual_env ? { VIRTUAL_ENV: join(appDir, image.virtual_env) } : {}),
    PATH: path,
  };
}
