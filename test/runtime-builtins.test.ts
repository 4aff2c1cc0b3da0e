// Built-in functions that read the running system when a handler calls them: kernel symbols from
// /proc/kallsyms, a process's command line and CPU times from /proc.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { makeBuiltins, type BuiltinHost } from '../src/runtime/builtins.js';
import type { Context } from '../src/runtime/context.js';
import { missingFeature } from './support/features.js';

const host = { write: () => {}, realtimeOffsetNs: 0n, hz: 250 } as unknown as BuiltinHost;
const builtins = makeBuiltins(host);
const self: Context = { pid: process.pid, tid: process.pid, cpu: 0, ts: 0n, f: [], probe: { pp: 'begin' } } as unknown as Context;

describe.skipIf(!!missingFeature('root'))('kernel symbols', () => {
  it('symname and symdata name the function holding an address, as stap prints them', () => {
    const line = /^([0-9a-f]{16}) [tT] (vfs_read)$/m.exec(readFileSync('/proc/kallsyms', 'utf8'))!;
    const addr = BigInt.asIntN(64, BigInt(`0x${line[1]}`));
    expect(builtins.symname(self, addr)).toBe('vfs_read');
    expect(builtins.symdata(self, addr + 4n)).toMatch(/^vfs_read\+0x4\/0x[0-9a-f]+ \[kernel\]$/);
    expect(builtins.symname(self, 16n)).toBe('0x10');
    expect(builtins.modname(self, addr)).toBe('kernel');
    expect(() => builtins.modname(self, 16n)).toThrow('modname: no kernel symbol at 0x10');
  });
});

describe('the process of the event', () => {
  it('cmdline_str, cmdline_arg and cmdline_args give its arguments as /proc has them', () => {
    const argv = readFileSync(`/proc/${process.pid}/cmdline`, 'latin1').split('\0').slice(0, -1);
    expect(builtins.cmdline_str(self)).toBe(argv.join(' '));
    expect(builtins.cmdline_arg(self, 0n)).toBe(argv[0]);
    expect(builtins.cmdline_arg(self, 999n)).toBe('');
    expect(builtins.cmdline_args(self, 0n, 1n, '|')).toBe(argv.slice(0, 2).join('|'));
    expect(builtins.cmdline_str({ ...self, pid: 0x7ffffff0 })).toBe('');
  });

  it('task_utime and task_stime are nanoseconds of CPU time, in /proc\'s 10 ms ticks', () => {
    const end = Date.now() + 60;
    while (Date.now() < end) { /* burn CPU so utime moves */ }
    const utime = BigInt(builtins.task_utime(self));
    expect(utime % 10_000_000n).toBe(0n);
    expect(utime).toBeGreaterThan(0n);
    expect(BigInt(builtins.task_stime_tid(self, process.pid))).toBeGreaterThanOrEqual(0n);
  });
});
