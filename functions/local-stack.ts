import { DataFolderInUseError } from '../shared/adapters/local/data-lock.js';
import { ConfigError, loadConfig } from '../shared/config.js';
import { launchers, watchLaunchers } from './local/launcher.js';
import { startLocalStack } from './local/stack.js';

/** `npm start`: the whole control plane on this machine. */
async function main(): Promise<void> {
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const config = loadConfig();
  if (config.BATON_TARGET !== 'local') {
    throw new ConfigError(
      `npm start runs the local target, but BATON_TARGET=${config.BATON_TARGET}. On Google Cloud the functions run as Cloud Functions (terraform/README.md); unset BATON_TARGET to run locally.`,
    );
  }
  const watched = launchers();
  const stack = await startLocalStack(config);
  console.log(`Baton control plane (local target) listening on ${stack.url} (PID ${process.pid})`);
  console.log(`Data folder: ${config.BATON_DATA_DIR}`);
  let stopping = false;
  // Stopping Baton stops every revision it runs (they run in process groups of their own, so a
  // signal to this process or its terminal does not reach them).
  const shutdown = (why: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${why}: stopping revisions and the control plane…`);
    void stack.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`Baton did not stop cleanly: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => shutdown(signal));
  watchLaunchers(watched, (gone) => shutdown(`the process that launched Baton (PID ${gone.pid}) exited`));
}

main().catch((err: unknown) => {
  const known = err instanceof ConfigError || err instanceof DataFolderInUseError;
  console.error(known ? err.message : `Baton could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
