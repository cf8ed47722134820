import type { CommandDeps } from '../../commands/types.js';
import type { RunView } from '../domain/run-view.js';
import type { StoredPerson } from '../store/runs-repo.js';
import type { RunContext } from './render.js';

/**
 * What a run's rendering needs from the store beyond the run: the
 * integration names, and who it terminates or would terminate. People
 * absent from a full data set have no source payload, so they are named
 * from the store (name, else email).
 */

/** Names shown in a held or terminating run's message ("Ana Silva, Bo Li and 3 more"). */
export const NAMES_SHOWN = 5;

export function personName(p: Pick<StoredPerson, 'name' | 'email'>): string {
  return p.name?.trim() || p.email;
}

export function nameLookup(commands: Pick<CommandDeps, 'integrations'>): (id: string) => string {
  return (id) => commands.integrations().find((i) => i.id === id)?.name ?? id;
}

export async function runContext(commands: Pick<CommandDeps, 'integrations' | 'store'>, view: RunView, reader?: RunContext['reader'], webUrl?: string): Promise<RunContext> {
  const ctx: RunContext = { nameOf: nameLookup(commands), reader, ...(webUrl && { webUrl }) };
  const leaving = view.guard?.terminations ?? view.results.employees.terminated;
  if (leaving > 0) {
    const runIds = view.integration ? [view.id] : view.children.map((c) => c.id);
    const people = await commands.store.runs.storedPeople({ runIds, status: 'terminated', limit: NAMES_SHOWN });
    ctx.terminating = people.map(personName);
  }
  return ctx;
}
