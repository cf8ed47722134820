import { planFor } from './roles.js';
import { userInfo } from 'node:os';
import { createLogger } from './log.js';
import { describeError, PeopleSyncError } from './errors.js';
import { createRuntime, type Runtime } from './runtime.js';
import { loadServiceConfig, openDatabase, runServe } from './main.js';
import { dispatch, resolve as resolveCommand, type Actor } from '../commands/index.js';
import { answerText, runText } from '../commands/render-text.js';
import { TERMINAL_STATUSES, type Run } from './domain/run.js';
import { connect, migrate } from './store/db.js';
import { createWebClient } from './slack-api/client.js';
import { runWebLogin } from './web/login-link.js';

/**
 * The command-line twin of /sync: the same grammar and answers, printed as
 * text (or JSON with --json). Sync commands wait for the run to end: this
 * process executes it unless a running service's worker picks it up first.
 */

const USAGE = `people-sync — keep people data in step with your HR systems

Service:
  people-sync serve [--role all|web|worker]   start the service (npm start)
  people-sync web-login [<Slack user id|name>] print a one-time sign-in link to the web window (/ui)

Commands (the same as /sync in Slack):
  people-sync sync all [integration] [--dry-run]
  people-sync sync recent [integration] [--dry-run]
  people-sync sync user <email|id> [integration] [--dry-run]
  people-sync status | runs [...] | run <id> | apply <id> | confirm <id> | discard <id>
  people-sync schedule list|add|remove|enable|disable ...   people-sync enable|disable <integration>
  Add --json for machine-readable output; "people-sync help" lists every command.`;

async function waitForRun(rt: Runtime, run: Run, onProgress: (r: Run) => void): Promise<Run> {
  const ids = run.integration_id ? [run.id] : (await rt.store.runs.children(run.id)).map((c) => c.id);
  for (const id of ids) await rt.engine.execute(id, `cli:${process.pid}`);
  let current = (await rt.store.runs.get(run.id))!;
  let last = '';
  // Another worker may hold one of them: poll until it ends.
  while (!TERMINAL_STATUSES.includes(current.status)) {
    if (current.status !== last) onProgress(current);
    last = current.status;
    await new Promise((r) => setTimeout(r, 500));
    current = (await rt.store.runs.get(run.id))!;
  }
  return current;
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (!first || first === '--help' || first === '-h') {
    console.log(USAGE);
    return first ? 0 : 2;
  }
  if (first === 'serve' || first === 'start') {
    const i = rest.indexOf('--role');
    const role = i >= 0 ? rest[i + 1] : rest.find((a) => a.startsWith('--role='))?.slice(7);
    if (role !== undefined && !['all', 'web', 'worker'].includes(role)) {
      console.error(`--role must be all, web or worker (got "${role}")`);
      return 2;
    }
    return runServe(role as 'all' | 'web' | 'worker' | undefined);
  }

  if (first === 'web-login') {
    const log = createLogger({ level: 'warn', write: (l) => process.stderr.write(l + '\n') });
    return runWebLogin(rest, {
      loadConfig: () => loadServiceConfig({ LOG_LEVEL: 'warn', ...process.env }, 'web', log),
      openDatabase: async (config) => {
        const db = await openDatabase(config, log);
        return { url: db.url, stop: db.embedded?.owned ? () => db.embedded!.stop() : undefined };
      },
      connect: (url) => connect(url, { max: 2 }),
      migrate: (sql) => migrate(sql, log),
      log,
      osUser: userInfo().username,
      web: (config) => (config.slack.botToken ? createWebClient(config.slack.botToken, { apiUrl: config.slack.apiUrl, log }) : undefined),
    });
  }

  const json = argv.includes('--json');
  const words = (first === 'sync' ? rest : argv).filter((a) => a !== '--json');
  const text = words.map((w) => (/\s/.test(w) ? `"${w}"` : w)).join(' ');
  const resolved = resolveCommand(text);
  if (!resolved.ok) {
    console.log(json ? JSON.stringify(resolved.answer) : answerText(resolved.answer));
    return resolved.answer.kind === 'help' ? 0 : 2;
  }

  const log = createLogger({ level: (process.env.LOG_LEVEL as 'warn' | undefined) ?? 'warn', write: (l) => process.stderr.write(l + '\n') });
  let rt: Runtime | undefined;
  let stopDb: (() => Promise<void>) | undefined;
  try {
    const config = loadServiceConfig({ LOG_LEVEL: 'warn', ...process.env }, 'web', log);
    const db = await openDatabase(config, log);
    stopDb = db.embedded?.owned ? () => db.embedded!.stop() : undefined;
    const plan = planFor('cli');
    rt = await createRuntime({ config, databaseUrl: db.url, log, work: plan.work, surfaces: plan.surfaces });
    await rt.start();
    const actor: Actor = { id: userInfo().username, label: `cli:${userInfo().username}`, isAdmin: true, surface: 'cli' };
    const answer = await dispatch(text, actor, rt.commands);
    const startsRun = answer.kind === 'run' && answer.run.status === 'pending' && resolved.command.startsRun;
    if (startsRun && answer.kind === 'run') {
      if (!json) console.error(`Run #${answer.run.id} staged${answer.run.dry_run ? ' (dry run)' : ''}; running…`);
      const done = await waitForRun(rt, (await rt.store.runs.get(answer.run.id))!, (r) => !json && console.error(`  #${r.id} ${r.status}…`));
      const view = await rt.service.view(done);
      console.log(json ? JSON.stringify(view, null, 2) : [answer.message, runText(view)].filter(Boolean).join('\n'));
      return done.status === 'failed' ? 1 : 0;
    }
    console.log(json ? JSON.stringify(answer, null, 2) : answerText(answer));
    return answer.kind === 'message' && answer.tone === 'error' ? 1 : 0;
  } catch (err) {
    console.error(err instanceof PeopleSyncError ? err.message : `people-sync: ${describeError(err)}`);
    return 1;
  } finally {
    await rt?.stop().catch(() => undefined);
    await stopDb?.().catch(() => undefined);
  }
}
