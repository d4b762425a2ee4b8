/**
 * The layers the design card fixes, read from the source: SQL lives only in src/db/; nothing below
 * src/http/ (services, db, actors, domain) imports from it or from the composition in src/boot/;
 * src/domain/ is pure (it imports no other layer), and so are the machines, which import only
 * actors and domain. A file that breaks one fails here by name.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', 'src');

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (/\.tsx?$/.test(e.name) && !/\.test\.tsx?$/.test(e.name)) out.push(p);
  }
  return out;
}

/** The folder under src/ a file or import target lives in (`main.ts` for src/main.ts). */
const layerOf = (file: string) => relative(SRC, file).split('/')[0]!;

/** Relative imports (static, dynamic and re-exports), resolved to paths. */
function importsOf(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specs.map((s) => resolve(dirname(file), s));
}

/** SQL statements written as template literals: a backtick, then a statement's first words. */
const SQL = /`\s*(select\s[\s\S]{0,200}?\sfrom\s|insert\s+into\s|update\s+\w+\s+set\s|delete\s+from\s|with\s+\w+\s+as\s*\(|(create|alter|drop)\s+(table|index)\s)/i;

describe('layers', () => {
  it('SQL lives only in src/db/', async () => {
    const offenders: string[] = [];
    for (const file of await sources(SRC)) {
      if (layerOf(file) === 'db') continue;
      const text = await readFile(file, 'utf8');
      for (const m of text.matchAll(new RegExp(SQL.source, 'gi'))) {
        offenders.push(`${relative(SRC, file)}:${text.slice(0, m.index).split('\n').length}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('services, db, actors and domain import nothing from src/http/ or src/boot/', async () => {
    const offenders: string[] = [];
    for (const file of await sources(SRC)) {
      if (!['services', 'db', 'actors', 'domain'].includes(layerOf(file))) continue;
      for (const target of importsOf(file, await readFile(file, 'utf8'))) {
        if (['http', 'boot', 'main.ts'].includes(layerOf(target))) offenders.push(`${relative(SRC, file)} → ${relative(SRC, target)}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('src/domain/ is pure: it imports no other layer', async () => {
    const offenders: string[] = [];
    for (const file of await sources(join(SRC, 'domain'))) {
      for (const target of importsOf(file, await readFile(file, 'utf8'))) {
        if (layerOf(target) !== 'domain') offenders.push(`${relative(SRC, file)} → ${relative(SRC, target)}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('machines (src/actors/*.machine.ts) are pure definitions: they import only actors and domain', async () => {
    const offenders: string[] = [];
    for (const file of (await sources(join(SRC, 'actors'))).filter((f) => f.endsWith('.machine.ts'))) {
      for (const target of importsOf(file, await readFile(file, 'utf8'))) {
        if (!['actors', 'domain'].includes(layerOf(target))) offenders.push(`${relative(SRC, file)} → ${relative(SRC, target)}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('the checks see what they look for (a check that finds nothing ever would prove nothing)', () => {
    expect('const [m] = await tx<{ a: string }[]>`select a from t where id = ${id}`;').toMatch(SQL);
    expect('sql`\n  insert into leads (id) values (1)`').toMatch(SQL);
    expect('// a comment on `seq` order and how we select it from the feed').not.toMatch(SQL);
    const file = join(SRC, 'services', 'x.ts');
    expect(importsOf(file, "import { ApiError } from '../http/errors.ts';").map(layerOf)).toEqual(['http']);
    expect(importsOf(file, "export { a } from './errors.ts';\nconst m = await import('../boot/hub.ts');").map(layerOf)).toEqual(['services', 'boot']);
  });
});
