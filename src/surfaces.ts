import type { Surface } from './surface.js';
import { importsSurface } from './http/imports/index.js';
import { slackSurface } from './slack/index.js';

export type { MountedSurface, Surface, SurfaceContext } from './surface.js';

/** Every surface the runtime mounts (the contract is in surface.ts). Adding one: one module, one line below. */
export const surfaces: Surface[] = [importsSurface, slackSurface];
