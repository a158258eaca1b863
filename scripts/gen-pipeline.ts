/**
 * Writes terraform/pipeline.json from the pipeline table (shared/domain/pipeline.ts): Terraform's
 * trigger maps and topic list. Run after changing the table; test/infra fails while it is stale.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { terraformPipelineJson } from '../shared/domain/pipeline.js';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'terraform', 'pipeline.json');
writeFileSync(out, terraformPipelineJson());
console.log(`wrote ${out}`);
