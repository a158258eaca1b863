import { ConfigError, loadConfig } from '../shared/config.js';
import { startLocalStack } from './local/stack.js';

/** `npm start`: the whole control plane on this machine. */
async function main(): Promise<void> {
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const config = loadConfig();
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
