/**
 * Handler speed: the same work as a stap script under tstap (pass 5's own time, from its -v
 * line) and as hand-written JavaScript in a fresh Node process, in one run.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { report, median } from './harness.js';

interface Case { name: string; script: string; args?: string[]; js: string }

const CASES: Case[] = [
  {
    name: '10M a[i % 1000] <<< i in begin',
    script: 'global a; probe begin { for (i = 0; i < 10000000; i++) a[i % 1000] <<< i; exit() }',
    js: `const a = new Map(); for (let i = 0; i < 10000000; i++) { const k = i % 1000; let s = a.get(k);
         if (!s) a.set(k, s = { count: 0, sum: 0, min: Infinity, max: -Infinity });
         s.count++; s.sum += i; if (i < s.min) s.min = i; if (i > s.max) s.max = i; }`,
  },
  {
    name: '1M string-keyed count[s]++',
    script: 'global count; probe begin { for (i = 0; i < 1000000; i++) count[i % 2 ? "odd" : "even"]++; exit() }',
    js: `const count = new Map(); for (let i = 0; i < 1000000; i++) { const k = i % 2 ? 'odd' : 'even'; count.set(k, (count.get(k) ?? 0) + 1); }`,
  },
  {
    name: '1M printf lines to /dev/null',
    script: 'probe begin { for (i = 0; i < 1000000; i++) printf("%d %s %x\\n", i, "name", i); exit() }',
    args: ['-o', '/dev/null'],
    js: `const fs = require('fs'); const fd = fs.openSync('/dev/null', 'w'); let buf = [];
         for (let i = 0; i < 1000000; i++) { buf.push(i + ' name ' + i.toString(16) + '\\n'); if (buf.length >= 4096) { fs.writeSync(fd, buf.join('')); buf = []; } }
         fs.writeSync(fd, buf.join(''));`,
  },
];

function tstapRunMs(bin: string, c: Case): number {
  const r = spawnSync('node', [bin, '-v', '-D', 'MAXACTION_INTERRUPTIBLE=1000000000', ...(c.args ?? []), '-e', c.script], { encoding: 'utf8' });
  const m = /Pass 5: run completed .* in \d+usr\/\d+sys\/(\d+)real ms/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`tstap failed: ${r.stderr.slice(0, 500)}`);
  return Number(m[1]);
}

function jsMs(c: Case): number {
  const code = `const t0 = performance.now(); ${c.js}; process.stdout.write(String(performance.now() - t0));`;
  const r = spawnSync('node', ['-e', code], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout);
}

export function benchRuntime(repo: string): void {
  console.log('## runtime core (handler speed against hand-written JavaScript; goal within 3x)');
  const bin = join(repo, 'bin/tstap.js');
  for (const c of CASES) {
    const t = median([0, 1, 2].map(() => tstapRunMs(bin, c)));
    const j = median([0, 1, 2].map(() => jsMs(c)));
    report(c.name, `tstap ${t.toFixed(0)} ms, JS ${j.toFixed(0)} ms: ${(t / j).toFixed(2)}x`);
  }
}
