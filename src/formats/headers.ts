import { FIELDS, type Entity } from '../domain/records.js';

/**
 * Column names as HR spreadsheets write them ("First Name", "E-mail",
 * "Start-Date") matched to canonical field names, so a sheet exported by hand
 * syncs without a mapping.
 */

/** "First Name", "first-name", "FIRST_NAME" → "firstname". */
export const normalizeHeader = (name: string): string => name.toLowerCase().replace(/[\s_-]+/g, '');

/**
 * Common names that are not a canonical name with other spacing, per entity
 * (normalised). `employeeid` is only taken for external_id when no column is
 * named external_id itself; the rule below makes that hold for every alias.
 */
const ALIASES: Record<Entity, Record<string, string>> = {
  employees: {
    emailaddress: 'email',
    mail: 'email',
    workemail: 'email',
    workemailaddress: 'email',
    givenname: 'first_name',
    forename: 'first_name',
    surname: 'last_name',
    familyname: 'last_name',
    jobtitle: 'job_title',
    position: 'job_title',
    managerid: 'manager_id',
    employeeid: 'external_id',
    employeeno: 'employee_number',
    hiredate: 'start_date',
    terminationdate: 'end_date',
  },
  employments: { employeeid: 'employee_id', jobtitle: 'title' },
  org_units: { parentid: 'parent_id', managerid: 'manager_id' },
};

/**
 * The header with names that match a canonical field of `entity` renamed to it:
 * equal ignoring case, spaces, hyphens and underscores, or a known alias. A
 * field already named exactly in the header is never claimed by another column,
 * and when two columns match the same field neither is renamed: nothing is
 * chosen silently (the record then reports the field as missing, naming it).
 */
export function matchHeaders(names: readonly string[], entity: Entity): string[] {
  const fields = FIELDS[entity];
  const byNormal = new Map(fields.map((f) => [normalizeHeader(f), f]));
  const present = new Set(names);
  const target = names.map((name) => {
    if (fields.includes(name)) return null;
    const n = normalizeHeader(name);
    const field = byNormal.get(n) ?? ALIASES[entity][n];
    return field && !present.has(field) ? field : null;
  });
  const claims = new Map<string, number>();
  for (const t of target) if (t) claims.set(t, (claims.get(t) ?? 0) + 1);
  return names.map((name, i) => {
    const t = target[i];
    return t && claims.get(t) === 1 ? t : name;
  });
}
