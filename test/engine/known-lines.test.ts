import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createIdFilter, loadKnownLines, type KnownLines } from '../../src/engine/known-lines.js';
import { fileIntegration, runtimePerTest } from '../helpers/file-integration.js';

/** The compact structures staging holds while a data set streams through (src/engine/known-lines.ts). */

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const rt = runtimePerTest();
/** A line's link (`code + id`); '' when two links share its hash; undefined when none knows it. */
const linkOf = (known: KnownLines, fp: string) => {
  const slot = known.find(fp);
  return slot === -1 ? undefined : slot === -2 ? '' : known.idAt(slot);
};

describe('known lines', () => {
  it("finds every link's line with its entity and escaped id, names neither of two links sharing a hash, and reads only its integration", async () => {
    const t = await rt.start({ integrations: fileIntegration(), files: { 'export.json': '[]' } });
    const n = 60_000; // past several growths of the table, and more blocks than one range reads
    await t.rt.sql`
      INSERT INTO record_links (integration_id, entity, external_id, record_id, fp)
      SELECT 'hr', CASE WHEN g % 3 = 0 THEN 'employments' ELSE 'employees' END, 'E' || g, g, md5(g::text)::uuid FROM generate_series(1, ${n}) g`;
    await t.rt.sql`
      INSERT INTO record_links (integration_id, entity, external_id, record_id, fp) VALUES
        ('hr', 'org_units', ${'tab\there\\back\nline é'}, 1, ${md5('odd')}::uuid),
        ('hr', 'employees', 'twin-a', 2, ${md5('twin')}::uuid),
        ('hr', 'employees', 'twin-b', 3, ${md5('twin')}::uuid),
        ('hr', 'employees', 'no-fp', 4, NULL),
        ('other', 'employees', 'theirs', 5, ${md5('theirs')}::uuid)`;

    const known = await loadKnownLines(t.rt.sql, 'hr');
    expect(known.size).toBe(n + 2);
    for (let g = 1; g <= n; g += 997) expect(linkOf(known, md5(String(g)))).toBe(`${g % 3 === 0 ? 1 : 0}E${g}`);
    expect(linkOf(known, md5('odd'))).toBe('2tab\\there\\\\back\\nline é');
    expect(linkOf(known, md5('twin'))).toBe('');
    expect(linkOf(known, md5('theirs'))).toBeUndefined();
    expect(linkOf(known, md5('never'))).toBeUndefined();
    expect((await loadKnownLines(t.rt.sql, 'nobody')).size).toBe(0);

    // An integration holding a small share of the table reads its own links through the primary key,
    // a page at a time (past one page here), and not its neighbours' blocks.
    await t.rt.sql`
      INSERT INTO record_links (integration_id, entity, external_id, record_id, fp)
      SELECT 'big', 'employees', 'B' || g, g, md5('big' || g)::uuid FROM generate_series(1, 240000) g`;
    await t.rt.sql`ANALYZE record_links`;
    const small = await loadKnownLines(t.rt.sql, 'hr');
    expect(small.size).toBe(n + 2);
    for (let g = 1; g <= n; g += 997) expect(linkOf(small, md5(String(g)))).toBe(`${g % 3 === 0 ? 1 : 0}E${g}`);
    expect(linkOf(small, md5('odd'))).toBe('2tab\\there\\\\back\\nline é');
    expect(linkOf(small, md5('twin'))).toBe('');
    expect(linkOf(small, md5('big7'))).toBeUndefined();
    const big = await loadKnownLines(t.rt.sql, 'big');
    expect(big.size).toBe(240000);
    expect(linkOf(big, md5('big239999'))).toBe('0B239999');
  });

  it('marks the lines staged, says when one comes again, and finds a marked line\'s id among the ids parsed', async () => {
    const t = await rt.start({ integrations: fileIntegration(), files: { 'export.json': '[]' } });
    await t.rt.sql`
      INSERT INTO record_links (integration_id, entity, external_id, record_id, fp)
      SELECT 'hr', 'employees', 'E' || g, g, md5(g::text)::uuid FROM generate_series(1, 5000) g`;
    await t.rt.sql`
      INSERT INTO record_links (integration_id, entity, external_id, record_id, fp) VALUES
        ('hr', 'org_units', ${'Zürich\tHQ'}, 1, ${md5('zurich')}::uuid), ('hr', 'employees', 'twin', 2, ${md5('twin')}::uuid),
        ('hr', 'employments', 'twin', 3, ${md5('twin')}::uuid)`;
    const known = await loadKnownLines(t.rt.sql, 'hr');
    expect(known.find(md5('never'))).toBe(-1);
    expect(known.find(md5('twin'))).toBe(-2);
    const slot = known.find(md5('17'));
    expect(known.idAt(slot)).toBe('0E17');
    expect(known.mark(slot)).toBe(true);
    expect(known.mark(slot)).toBe(false);
    for (const g of [18, 4999]) known.mark(known.find(md5(String(g))));
    known.mark(known.find(md5('zurich')));

    // Held exactly: a hash match is checked on the id itself.
    const ids = createIdFilter();
    expect(known.markedMayBeIn(ids)).toBe(false); // nothing parsed: nothing asked
    for (const id of ['0E1', '0E19', '1E17', '0E4998', '2Zürich']) ids.add(id);
    expect(known.markedMayBeIn(ids)).toBe(false); // E1, E19 and E4998 were not staged as known; E17 is an employment here
    ids.add('0E4999');
    expect(known.markedMayBeIn(ids)).toBe(true);
    const accented = createIdFilter();
    accented.add('2Zürich\\tHQ');
    expect(known.markedMayBeIn(accented)).toBe(true);

    // In the filter (past the ids held exactly): the same answers, for ASCII ids read as bytes and others as text.
    const many = createIdFilter();
    for (let i = 0; i < 100_000; i++) many.add(`1M${i}`);
    expect(known.markedMayBeIn(many)).toBe(false);
    many.add('0E18');
    expect(known.markedMayBeIn(many)).toBe(true);
    const manyAccented = createIdFilter();
    for (let i = 0; i < 100_000; i++) manyAccented.add(`1M${i}`);
    manyAccented.add('2Zürich\\tHQ');
    expect(known.markedMayBeIn(manyAccented)).toBe(true);
  });
});

describe('id filter', () => {
  it('never misses a repeat, held exactly or in the filter, and says "new" for 200,000 distinct ids', () => {
    const f = createIdFilter();
    let fresh = 0;
    for (let i = 0; i < 200_000; i++) if (f.add(`0E${i}`)) fresh++;
    expect(fresh).toBe(200_000);
    for (const id of ['0E0', '0E12345', '0E199999']) expect(f.add(id)).toBe(false);
    // The entity is part of the key: the same id in another entity is another id.
    expect(f.add('1E12345')).toBe(true);
    // A small data set's ids are held exactly, before any filter is made.
    const small = createIdFilter();
    expect(small.add('0A')).toBe(true);
    expect(small.add('0B')).toBe(true);
    expect(small.add('0A')).toBe(false);
    expect(small.size).toBe(2);
    // Asked without adding, from an id's UTF-8 bytes, held exactly or in the filter.
    const bytes = (id: string) => [Buffer.from(`xx${id}yy`), 2, 2 + Buffer.byteLength(id)] as const;
    for (const filter of [small, f]) {
      expect(filter.mayHaveBytes(...bytes(filter === small ? '0B' : '0E77'))).toBe(true);
      expect(filter.mayHaveBytes(...bytes('0Unseen'))).toBe(false);
      expect(filter.mayHaveBytes(...bytes('0Ünseen'))).toBe(false);
      filter.add('0Ünseen');
      expect(filter.mayHaveBytes(...bytes('0Ünseen'))).toBe(true);
    }
  });
});
