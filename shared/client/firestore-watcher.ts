import type { Firestore } from '@google-cloud/firestore';
import type { DocumentWatcher } from './client.js';

/**
 * Follows `deployment_jobs/{id}` with Firestore's `onSnapshot`: the way clients watch a job on
 * the gcp target, straight from the store, with no function holding a connection open.
 */
export function firestoreWatcher(firestore: Firestore, collection = 'deployment_jobs'): DocumentWatcher {
  return (id, onDoc, onError) =>
    firestore
      .collection(collection)
      .doc(id)
      .onSnapshot(
        (snap) => onDoc(snap.exists ? snap.data() : null),
        (err) => onError(err),
      );
}
