import { resolve } from 'node:path';
import { analyseSource } from '../domain/analysis/analyse.js';
import { dockerfileFor } from '../domain/dockerfile.js';
import { fails, toJson, toSarif } from '../domain/lint/lint.js';
import { lintSourceDockerfile } from '../domain/lint/source-lint.js';
import { folderReader } from '../sources/reader.js';
import { EXIT } from './exit-codes.js';

/**
 * `baton lint [dir]`: the preflight lint of validating, run on a folder on this machine with no
 * control plane: its Dockerfile (--dockerfile, default Dockerfile), or the one Baton would
 * generate for it. Text, JSON (hadolint's shape) or SARIF 2.1.0; exit 1 when a finding fails
 * (the config's failure-threshold, error by default), 4 (bad input, exit-codes.ts) when the folder cannot be analysed.
 */
export async function lintCommand(
  dir: string,
  options: { format: string; dockerfile?: string },
  out: { write(text: string): unknown },
): Promise<number> {
  const root = resolve(dir);
  const reader = await folderReader(root, { maxBytes: 512 * 1024 * 1024, maxFiles: 200_000 });
  const file = options.dockerfile ?? 'Dockerfile';
  let text = reader.read(file);
  let name = file;
  if (text === null) {
    const analysed = analyseSource(reader, { dockerfile: options.dockerfile });
    if (!analysed.ok) {
      out.write(`${root}: found ${analysed.found}. Add ${analysed.add}\n`);
      return EXIT.badInput;
    }
    text = dockerfileFor(analysed.analysis);
    name = `${file} (generated)`;
  }
  const { findings, config, configError } = lintSourceDockerfile(reader, name, text);
  if (configError) out.write(`${configError}\n`);
  if (options.format === 'json') out.write(`${toJson(findings)}\n`);
  else if (options.format === 'sarif') out.write(`${toSarif(findings)}\n`);
  else {
    for (const f of findings) out.write(`${f.file}:${f.line} ${f.code} ${f.level}: ${f.message}\n    fix: ${f.fix}\n`);
    out.write(
      findings.length === 0
        ? `${name}: no findings\n`
        : `${findings.length} finding(s), ${findings.filter((f) => fails(f, config)).length} failing\n`,
    );
  }
  return findings.some((f) => fails(f, config)) || configError ? 1 : 0;
}
