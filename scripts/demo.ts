import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startLocalStack } from '../functions/local/stack.js';
import { progressLine } from '../shared/cli/render.js';
import { BatonClient } from '../shared/client/client.js';
import { loadConfig } from '../shared/config.js';

/**
 * `npm run demo`: starts the control plane on this machine, deploys the bundled example service
 * through every stage (validate, prepare, build, deploy with no traffic, verify, promote), calls
 * it, deploys a second version, and prints the URLs. Keeps running until Ctrl-C so you can try it.
 */
async function main(): Promise<void> {
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const dataDir = process.env.BATON_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'baton-demo-'));
  const config = loadConfig({ ...process.env, BATON_DATA_DIR: dataDir, PORT: process.env.PORT ?? '0' });
  const stack = await startLocalStack(config);
  const client = new BatonClient({ baseUrl: stack.url });
  console.log(`Baton control plane: ${stack.url}   (data: ${dataDir})\n`);

  const source = mkdtempSync(join(tmpdir(), 'baton-demo-src-'));
  cpSync(resolve(import.meta.dirname, '../examples/hello'), source, { recursive: true });

  let exitCode = 0;
  try {
    for (const version of ['v1', 'v2']) {
      console.log(`Deploying examples/hello ${version}…`);
      const started = Date.now();
      let lastStep = '';
      const job = await client.deployAndWait(
        { agent_id: 'hello', version, env: { APP_VERSION: version }, source: { type: 'directory', path: source } },
        (j) => {
          // One redrawn line on a terminal; one line per new step otherwise.
          if (process.stdout.isTTY) process.stdout.write(`\r${progressLine(j).padEnd(90)}`);
          else if (j.current_step !== lastStep) process.stdout.write(`  ${progressLine(j)}\n`);
          lastStep = j.current_step;
        },
      );
      process.stdout.write('\n');
      if (job.status !== 'completed') {
        console.error(`Deployment ${job.deployment_id} ended ${job.status}: ${job.error_message}`);
        console.error(await client.getLogs(job.deployment_id));
        exitCode = 1;
        break;
      }
      const answer = await fetch(job.service_url ?? '').then((r) => r.text());
      console.log(`  ${job.status} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${job.service_url} → ${answer}`);
      console.log(`  revision ${job.revision}; logs: ${stack.url}/deployments/${job.deployment_id}/logs\n`);
    }
    if (exitCode === 0) {
      const svc = await client.getService('hello');
      console.log(`Service hello serves ${svc.serving_revision} at ${svc.url}`);
      console.log(`Try: BATON_URL=${stack.url} npm run baton -- status   |   curl ${svc.url}`);
    }
  } catch (err) {
    console.error(`Demo failed: ${err instanceof Error ? err.message : String(err)}`);
    exitCode = 1;
  }

  if (exitCode !== 0 || process.env.CI || !process.stdout.isTTY || process.argv.includes('--once')) {
    await stack.stop();
    process.exit(exitCode);
  }
  console.log('\nPress Ctrl-C to stop the control plane and its revisions.');
  process.once('SIGINT', () => void stack.stop().then(() => process.exit(0)));
}

void main();
