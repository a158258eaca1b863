import { ConfigError, loadConfig } from '../shared/config.js';
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
  const stack = await startLocalStack(config);
  console.log(`Baton control plane (local target) listening on ${stack.url}`);
  console.log(`Data folder: ${config.BATON_DATA_DIR}`);
  const shutdown = (signal: string) => {
    console.log(`${signal}: stopping revisions and the control plane…`);
    void stack.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : `Baton could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
