import { startBuild } from '../../shared/pipeline/build.js';
import { stageFunction } from '../lib/pubsub-event.js';

/** Trigger: baton-deployment-prepared. Submits the build and returns; build-events continues. */
export const build = stageFunction('build', startBuild);
