import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BatonClient } from '../clients/typescript/src/index.js';
import { startLocalStack } from '../functions/local/stack.js';
import { progressLine } from '../shared/cli/render.js';
import { loadConfig } from '../shared/config.js';

/**
 * `npm run demo`: starts the control plane on this machine, deploys the bundled example service
 * through every stage (validate, prepare, build, deploy with no traffic, verify, promote), calls
 * it, deploys a second version, and prints the URLs. On a terminal (or with --serve) it keeps
 * serving until Ctrl-C so the printed commands work; otherwise (CI, a pipe, --once) it stops and
 * prints how to run a control plane that stays up. Either way the temp folders it made are
 * removed when it stops (a BATON_DATA_DIR given to it is kept).
 */
async function main(): Promise<void> {
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const made: string[] = [];
  const temp = (prefix: string) => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
  const dataDir = process.env.BATON_DATA_DIR ?? temp('baton-demo-');
  const cleanUp = () => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  };
  const config = loadConfig({ ...process.env, BATON_DATA_DIR: dataDir, PORT: process.env.PORT ?? '0' });
  let stack: Awaited<ReturnType<typeof startLocalStack>>;
  try {
    stack = await startLocalStack(config);
  } catch (err) {
    cleanUp();
    throw err;
  }
  const stop = async (code: number) => {
    await stack.stop();
    cleanUp();
    process.exit(code);
  };
  const client = new BatonClient({ baseUrl: stack.url });
  const serve = process.argv.includes('--serve') || (!process.env.CI && process.stdout.isTTY && !process.argv.includes('--once'));
  console.log(`Baton control plane: ${stack.url}   (data: ${dataDir})\n`);

  // A copy outside this checkout, so the build sees the example alone.
  const source = temp('baton-demo-src-');
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
      console.log(
        `  revision ${job.revision}${serve ? `; logs: BATON_URL=${stack.url} npm run baton -- logs ${job.deployment_id}` : ''}\n`,
      );
    }
  } catch (err) {
    console.error(`Demo failed: ${err instanceof Error ? err.message : String(err)}`);
    exitCode = 1;
  }

  if (exitCode !== 0 || !serve) {
    if (exitCode === 0) {
      console.log('The demo has stopped its control plane and removed its revisions and temp folders.');
      console.log('To keep one running: npm start, then in another shell: npm run baton -- deploy examples/hello --wait');
    }
    await stop(exitCode);
    return;
  }
  const svc = await client.getService('hello');
  console.log(`Service hello serves ${svc.serving_revision} at ${svc.url}`);
  console.log(`Try, while this runs: BATON_URL=${stack.url} npm run baton -- status   |   curl ${svc.url}`);
  console.log('\nPress Ctrl-C to stop the control plane and its revisions (and remove the demo folders).');
  // `on`, not `once`: Ctrl-C may arrive more than once (the terminal, npm relaying it), and a
  // signal nobody listens to any more kills the demo before it has cleaned up. The first stops.
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      void stop(0);
    });
}

void main();
