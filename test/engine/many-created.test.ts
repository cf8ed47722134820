import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANY_CREATED } from '../../src/engine/plan.js';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * A plan that creates many records analyzes its tables before the links are written (plan.ts, MANY_CREATED):
 * the same links and references must come of it as from a small plan, which does not.
 */
const PEOPLE = 5_300;
const header = 'external_id,email,first_name,last_name,manager_id,employee_number,status';
const person = (i: number) => [`E${i}`, `p${i}@example.com`, `First${i}`, `Last${i}`, i === 1 ? '' : `E${Math.ceil(i / 7)}`, `N${i}`, 'active'].join(',');
const csv = (n: number) => [header, ...Array.from({ length: n }, (_, k) => person(k + 1))].join('\n') + '\n';

const integrations = `
integrations:
  - id: big
    name: Large export
    kind: pull
    provider: file
    options: { path: big.csv }
  - id: small
    name: Small export
    kind: pull
    provider: file
    options: { path: small.csv }
`;

describe('an initial load of many records', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime({ integrations, files: { 'big.csv': csv(PEOPLE), 'small.csv': csv(40).replaceAll('@example.com', '@small.example.com').replace(/\bN(\d+)/g, 'S$1') } });
  });
  afterAll(async () => t?.close());

  /** Links of `integration` that do not name the employee of their row, or whose manager is not the row's. */
  const wrong = async (integration: string, domain: string) =>
    (await t.rt.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM record_links l
      JOIN employees e ON e.id = l.record_id
      LEFT JOIN employees m ON m.id = e.manager_id
      WHERE l.integration_id = ${integration} AND l.entity = 'employees'
        AND (e.email <> 'p' || substr(l.external_id, 2) || ${domain}
             OR m.email IS DISTINCT FROM CASE WHEN l.external_id = 'E1' THEN NULL
                                              ELSE 'p' || ceil(substr(l.external_id, 2)::int / 7.0)::int || ${domain} END)`)[0]!.n;

  it('links every record to its own row and each manager to the row named, as a small plan does', async () => {
    // Each person is an employee and, through its employee number, nothing else: the data set passes the bound.
    expect(PEOPLE).toBeGreaterThanOrEqual(MANY_CREATED);
    const big = await t.sync({ integration: 'big', mode: 'full' });
    expect(big.status).toBe('completed');
    expect(big.counts.employees?.created).toBe(PEOPLE);
    const small = await t.sync({ integration: 'small', mode: 'full' });
    expect(small.status).toBe('completed');
    expect(small.counts.employees?.created).toBe(40);

    const links = await t.rt.sql<{ integration_id: string; n: number; fp: number }[]>`
      SELECT integration_id, count(*)::int AS n, count(fp)::int AS fp FROM record_links GROUP BY integration_id ORDER BY integration_id`;
    expect(links).toEqual([
      { integration_id: 'big', n: PEOPLE, fp: PEOPLE },
      { integration_id: 'small', n: 40, fp: 40 },
    ]);
    expect(await wrong('big', '@example.com')).toBe(0);
    expect(await wrong('small', '@small.example.com')).toBe(0);
  });

  it('recognises every row again from the links it wrote', async () => {
    const again = await t.sync({ integration: 'big', mode: 'full' });
    expect(again.status).toBe('completed');
    expect(again.counts.employees).toMatchObject({ unchanged: PEOPLE, created: 0, updated: 0 });
  });
});
