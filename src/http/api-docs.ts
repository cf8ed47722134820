import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import { DOCUMENT_INFO } from './openapi.js';

/**
 * `GET /api/openapi.json` (the OpenAPI 3.1 document of every documented route) and
 * `GET /api/docs` (an API reference page rendering it). Both are readable without
 * the admin token: the document describes the API and holds no data, and the page
 * asks for the token only to try a request.
 *
 * The page's script is Scalar's standalone bundle, served from node_modules at
 * `/api/docs/scalar.js`: nothing is loaded from a CDN, so the page works offline.
 */

export const OPENAPI_PATH = '/api/openapi.json';
export const DOCS_PATH = '/api/docs';
export const DOCS_SCRIPT_PATH = '/api/docs/scalar.js';

const require = createRequire(import.meta.url);

/** Scalar's single-file browser build (the package exports neither it nor package.json: found next to its entry, dist/index.js). */
function scalarBundlePath(): string {
  return join(dirname(require.resolve('@scalar/api-reference')), 'browser', 'standalone.js');
}

export function registerApiDocs(app: OpenAPIHono<any>): void {
  // Every route is mounted before the first request, so the document is made once.
  let document: unknown;
  app.get(OPENAPI_PATH, (c) => c.json((document ??= app.getOpenAPI31Document(DOCUMENT_INFO))));

  let bundle: Promise<Buffer> | undefined;
  app.get(DOCS_SCRIPT_PATH, async (c) => {
    const body = await (bundle ??= readFile(scalarBundlePath()).catch((err: unknown) => {
      bundle = undefined;
      throw err;
    }));
    return c.body(new Uint8Array(body), 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=86400' });
  });

  app.get(
    DOCS_PATH,
    Scalar({
      url: OPENAPI_PATH,
      cdn: DOCS_SCRIPT_PATH,
      pageTitle: 'people-sync API',
      withDefaultFonts: false,
      telemetry: false,
      agent: { disabled: true },
    }),
  );
}
