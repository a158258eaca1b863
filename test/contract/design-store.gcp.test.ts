import type { Firestore } from '@google-cloud/firestore';
import { afterAll, beforeAll } from 'vitest';
import { FirestoreDesignStore } from '../../shared/adapters/gcp/design-store.js';
import { describeWithEmulators, type Emulator, firestoreClient, startEmulator, uniqueProjectId } from '../support/emulators.js';
import { designStoreContract } from './suites/design-store.suite.js';

/**
 * The DesignStore contract on Google's Firestore emulator. Not proved here: that
 * DESIGN_FIRESTORE_INDEXES is complete (the emulator needs no index; test/infra checks Terraform
 * declares each), the 1 MiB document limit, the TTL policy on rate_limits.
 */
let emulator: Emulator;
const clients: Firestore[] = [];

describeWithEmulators('FirestoreDesignStore on the Firestore emulator', () => {
  beforeAll(async () => {
    emulator = await startEmulator('firestore');
  });
  afterAll(async () => {
    await Promise.all(clients.splice(0).map((c) => c.terminate()));
    await emulator?.stop();
  });

  designStoreContract('FirestoreDesignStore on the Firestore emulator', async () => {
    const firestore = firestoreClient(emulator, uniqueProjectId());
    clients.push(firestore);
    return { store: new FirestoreDesignStore(firestore), cleanup: async () => {} };
  });
});
