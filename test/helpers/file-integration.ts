import { afterEach } from 'vitest';
import { createTestRuntime, type TestRuntime } from './runtime.js';

/**
 * integrations.yml with one pull integration `hr` reading `path` through the
 * file provider; `extra` is YAML indented under it (match_key, scope, …).
 */
export function fileIntegration(extra = '', path = 'export.json', maxTerminations = '90%'): string {
  return `
integrations:
  - id: hr
    name: HR
    kind: pull
    provider: file
    options: { path: ${path} }
    max_terminations: ${maxTerminations}
${extra}
`;
}

/** One test runtime per test, closed after it: `const rt = runtimePerTest(); … const t = await rt.start({…})`. */
export function runtimePerTest(): { start(options: Parameters<typeof createTestRuntime>[0]): Promise<TestRuntime> } {
  let current: TestRuntime | undefined;
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  return {
    async start(options) {
      current = await createTestRuntime(options);
      return current;
    },
  };
}
