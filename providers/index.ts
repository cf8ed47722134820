import type { ProviderDefinition } from './types.js';
import { fileProvider } from './file.js';

/** Every provider, by the id used in integrations.yml. Adding one: one module, one line here. */
export const providers: Record<string, ProviderDefinition<any>> = {
  [fileProvider.id]: fileProvider,
};

export type { ProviderDefinition, ProviderInstance, ProviderPage, FetchRequest, ConnectionTest } from './types.js';
