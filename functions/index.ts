/**
 * The Functions Framework entry point on Google Cloud: every function is registered here and each
 * instance serves the one named by its `--target` (FUNCTION_TARGET). The gcp adapters are built on
 * the first invocation, from a configuration validated then; a bad one fails with its message.
 */
import { archiveLimitsOf, loadConfig, loadGcpConfig } from '../shared/config.js';
import type { PipelineDeps } from '../shared/pipeline/deps.js';
import { gcpApiAuth } from '../shared/wiring/api-auth.js';
import { buildGcpAdapters } from '../shared/wiring/gcp.js';
import { registerFunctions } from './framework.js';

let deps: PipelineDeps | null = null;

function productionDeps(): PipelineDeps {
  if (!deps) {
    const config = loadConfig();
    deps = buildGcpAdapters(config, loadGcpConfig()).deps;
  }
  return deps;
}

// Cloud Run refuses requests over 32 MiB: uploads stay under it.
const config = loadConfig();
// Built on the api's first request (a bad BATON_API_AUTH/BATON_API_USERS answers 503 and is logged).
registerFunctions(productionDeps, () => ({
  maxUploadBytes: Math.min(config.BATON_MAX_UPLOAD_BYTES, 30 * 1024 * 1024),
  archiveLimits: archiveLimitsOf(config),
  target: 'gcp',
  ...gcpApiAuth(loadGcpConfig()),
}));
