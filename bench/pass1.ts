/**
 * Pass-1 throughput: lines per second over the Debian tapset corpus, and `tstap -p1` wall time
 * on hello.stp and on a 10,000-line script against `node -e 0` in the same run.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { systemContext } from '../src/preprocessor/conditions.js';
import { collectMacros, parseSource } from '../src/parser/parse-source.js';
import type { MacroTable } from '../src/preprocessor/preprocess.js';
import { report, timeCommand, median } from './harness.js';

const CORPUS = '/usr/share/systemtap/tapset';

function walk(dir: string): string[] {
  return readdirSync(dir).sort().flatMap(n => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : /\.stpm?$/.test(n) ? [p] : [];
  });
}

export function benchPass1(repo: string, shared: string): void {
  console.log('## pass 1 (parse)');
  if (existsSync(CORPUS)) {
    const files = walk(CORPUS).map(f => ({ name: f, text: readFileSync(f, 'latin1') }));
    const lines = files.reduce((n, f) => n + f.text.split('\n').length, 0);
    const ctx = systemContext({ guru: true });
    const times: number[] = [];
    for (let run = 0; run < 5; run++) {
      const t0 = performance.now();
      const macros: MacroTable = new Map();
      for (const f of files) if (f.name.endsWith('.stpm')) collectMacros({ ...f, guru: true }, ctx, macros);
      for (const f of files) if (f.name.endsWith('.stp')) parseSource({ ...f, guru: true }, ctx, macros, true);
      times.push(performance.now() - t0);
    }
    const ms = median(times);
    report(`tapset corpus: ${files.length} files, ${lines} lines`, `${ms.toFixed(0)} ms (${Math.round(lines / ms * 1000)} lines/s; goal < 1000 ms)`);
  } else {
    report('tapset corpus', `absent (${CORPUS}); apt-get install systemtap-common`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'tstap-bench-'));
  const big = join(dir, 'big.stp');
  let text = 'global counts, h\n';
  for (let i = 0; text.split('\n').length < 10_000; i++) {
    text += `probe timer.ms(${i + 1}) {\n  counts[${i}, "k${i}"]++\n  h <<< ${i} * 3 + counts[${i}, "k${i}"]\n  if (counts[${i}, "k${i}"] > 10) printf("%d %s\\n", ${i}, sprint(@count(h)))\n}\n`;
  }
  writeFileSync(big, text);
  const bin = join(repo, 'bin/tstap.js');
  const node = timeCommand('node', ['-e', '0']);
  const hello = timeCommand('node', [bin, '-p1', join(shared, 'acceptance/hello.stp')]);
  const large = timeCommand('node', [bin, '-p1', big]);
  report('node -e 0 (baseline)', `${node.toFixed(0)} ms`);
  report('tstap -p1 hello.stp', `${hello.toFixed(0)} ms = node + ${(hello - node).toFixed(0)} ms (${(hello / node).toFixed(2)}x; goal: + < 100 ms)`);
  report('tstap -p1 on a 10,000-line script', `${large.toFixed(0)} ms = node + ${(large - node).toFixed(0)} ms (${(large / node).toFixed(2)}x)`);
}
