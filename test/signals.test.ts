// SIGINT, SIGTERM and SIGHUP end a run the way exit() does: end probes run, output is
// flushed, exit status 0.
import { describe, it, expect } from 'vitest';
import { execa } from 'execa';
import { resolve } from 'node:path';

const BIN = resolve(import.meta.dirname, '../bin/tstap.js');
const SCRIPT = 'global n; probe begin { println("started") } probe timer.ms(10) { n++ } probe end { printf("ended after ticks: %d\\n", n > 0) }';

describe('signals end a run like exit()', () => {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`${signal} runs end probes and exits 0`, async () => {
      const child = execa('node', [BIN, '-e', SCRIPT], { reject: false, buffer: false });
      let out = '';
      await new Promise<void>(res => {
        child.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('started')) res(); });
      });
      await new Promise(r => setTimeout(r, 100));
      child.kill(signal);
      const r = await child;
      expect(out).toBe('started\nended after ticks: 1\n');
      expect(r.exitCode).toBe(0);
    });
  }
});
