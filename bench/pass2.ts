/** Pass-2 cost of the syscall family: `-p2` of `probe syscall.* {}` and `-l 'syscall.*'`. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { report, timeCommand } from './harness.js';

export function benchPass2(repo: string): void {
  console.log('## pass 2 (elaboration; SystemTap 4.8 here: 23.6 s and 29.7 s; goal < 0.5 s each)');
  if (process.getuid?.() !== 0 || !existsSync('/sys/kernel/tracing/events/syscalls')) {
    report('syscall family', 'skipped: needs root and syscall tracepoints');
    return;
  }
  const bin = join(repo, 'bin/tstap.js');
  const node = timeCommand('node', ['-e', '0'], 5);
  const p2 = timeCommand('node', [bin, '-p2', '-e', 'probe syscall.* {}'], 5);
  const l = timeCommand('node', [bin, '-l', 'syscall.*'], 5);
  report("tstap -p2 -e 'probe syscall.* {}'", `${p2.toFixed(0)} ms (node -e 0: ${node.toFixed(0)} ms)`);
  report("tstap -l 'syscall.*'", `${l.toFixed(0)} ms`);
}
