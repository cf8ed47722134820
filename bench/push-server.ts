import { serve } from '@hono/node-server';
import { openRuntime } from './runtime.js';

/**
 * The service as deployed (HTTP + a worker), for the push scenario: its own
 * process, so its peak RSS is the service's alone. Prints `READY` when it
 * listens; stops on SIGTERM.
 */
interface PushServerJob {
  databaseUrl: string;
  port: number;
  importMaxBytes: number;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env.BENCH_JOB ?? '{}') as PushServerJob;
  const br = await openRuntime({
    databaseUrl: job.databaseUrl,
    file: null,
    surfaces: 'default',
    work: true,
    processEvery: '100 milliseconds',
    env: { IMPORT_MAX_BYTES: String(job.importMaxBytes) },
  });
  const server = serve({ fetch: br.rt.http.fetch, port: job.port, hostname: '127.0.0.1' });
  process.once('SIGTERM', () => {
    server.close(() => {
      br.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  });
  process.stdout.write('READY\n');
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
