/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and lists where the time went: self time per
 * function, and self time grouped by package (or `src/…` folder), the shares of all samples.
 *
 *   node --import tsx bench/lib/profile.ts <file.cpuprofile> [top]
 */
import { readFile } from 'node:fs/promises';

/** A span of the monotonic clock (µs), as `process.hrtime.bigint() / 1000n` reads it in any process. */
export interface ProfileWindow {
  fromUs: number;
  toUs: number;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export interface ProfileEntry {
  name: string;
  share: number;
}

/**
 * `window`: only the samples taken in that span (V8 stamps samples with the same monotonic clock
 * as `process.hrtime`, so a load run timed in another process selects its own samples).
 */
export async function summarizeProfile(
  file: string,
  top = 15,
  window?: ProfileWindow,
): Promise<{ functions: ProfileEntry[]; groups: ProfileEntry[]; samples: number }> {
  const p = JSON.parse(await readFile(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let at = p.startTime;
  let counted = 0;
  p.samples.forEach((id, i) => {
    at += p.timeDeltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) return;
    counted++;
    // Weight each sample by the time until the next one (the profiler's interval varies under load).
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0) || 1;
  const fn = new Map<string, number>();
  const group = new Map<string, number>();
  for (const [id, t] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    const file = url.replace(/^file:\/\//, '');
    const where = file ? `${shortPath(file)}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    fn.set(key, (fn.get(key) ?? 0) + t);
    const g = groupOf(file, functionName);
    group.set(g, (group.get(g) ?? 0) + t);
  }
  const rank = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, t]) => ({ name, share: t / total }));
  return { functions: rank(fn), groups: rank(group), samples: counted };
}

function shortPath(file: string): string {
  const nm = file.lastIndexOf('node_modules/');
  if (nm >= 0) return file.slice(nm + 'node_modules/'.length);
  const src = file.search(/\/(src|bench)\//);
  return src >= 0 ? file.slice(src + 1) : file;
}

function groupOf(file: string, functionName: string): string {
  if (!file) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = file.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = file.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (file.startsWith('node:')) return file;
  const src = file.search(/\/src\//);
  if (src >= 0) return file.slice(src + 1).split('/').slice(0, 2).join('/');
  return shortPath(file);
}

export function formatProfile(s: Awaited<ReturnType<typeof summarizeProfile>>): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  return [
    `${s.samples} samples; self time by function:`,
    ...s.functions.map((e) => `  ${pct(e.share)}  ${e.name}`),
    'self time by package / folder:',
    ...s.groups.map((e) => `  ${pct(e.share)}  ${e.name}`),
  ].join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/bench\//, 'bench/'))) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: profile.ts <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  process.stdout.write(`${formatProfile(await summarizeProfile(file, Number(process.argv[3] ?? 15)))}\n`);
}
