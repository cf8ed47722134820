import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** Data flows one way: providers → engine → store → surfaces. The imports say so; this test reads them. */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const files = (dir: string): string[] =>
  readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    return statSync(join(ROOT, path)).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
/** Where each relative import of a file points, as a path from the repository root. */
const importsOf = (file: string): string[] =>
  [...readFileSync(join(ROOT, file), 'utf8').matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gms)].map((m) =>
    relative(ROOT, resolve(ROOT, dirname(file), m[1]!)).replace(/\.js$/, '.ts'),
  );
const offending = (dirs: string[], forbidden: RegExp) =>
  dirs.flatMap(files).flatMap((f) => importsOf(f).filter((i) => forbidden.test(i)).map((i) => `${f} → ${i}`));

describe('architecture', () => {
  it('reads the imports it checks (a check that sees none would pass anything)', () => {
    expect(importsOf('src/runtime.ts')).toEqual(expect.arrayContaining(['src/engine/execute.ts', 'src/store/index.ts', 'src/roles.ts']));
  });

  it('store/ and domain/ import nothing from the engine, config.ts or a surface', () => {
    expect(offending(['src/store', 'src/domain'], /^src\/(engine\/|config\.ts$|http\/|slack\/|runtime\.ts$|roles\.ts$)/)).toEqual([]);
  });

  it('the engine imports no surface, and no job queue', () => {
    expect(offending(['src/engine'], /^src\/(http|slack|jobs)\/|^src\/(runtime|roles|main|cli)\.ts$/)).toEqual([]);
  });

  it("surfaces never import each other: what two share (Slack's Web API and admin rules, page addresses) lives outside both", () => {
    expect(offending(['src/slack'], /^src\/web\//)).toEqual([]);
    expect(offending(['src/web'], /^src\/slack\//)).toEqual([]);
    expect(offending(['src/http'], /^src\/(slack|web)\//)).toEqual([]);
  });

  it('providers import no engine, store or surface', () => {
    expect(offending(['providers'], /^src\/(engine|store|http|slack|jobs)\//)).toEqual([]);
  });
});
