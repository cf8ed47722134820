import type { ProviderDefinition } from './types.js';
import { fileProvider } from './file.js';
import { entraProvider } from './entra.js';
import { bamboohrProvider } from './bamboohr.js';
import { httpProvider } from './http.js';

/** Every provider, by the id used in integrations.yml. Adding one: one module, one line here. */
export const providers: Record<string, ProviderDefinition<any>> = {
  [fileProvider.id]: fileProvider,
  [entraProvider.id]: entraProvider,
  [bamboohrProvider.id]: bamboohrProvider,
  [httpProvider.id]: httpProvider,
};

export type { ProviderDefinition, ProviderInstance, ProviderPage, FetchRequest, ConnectionTest } from './types.js';
