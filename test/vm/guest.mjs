#!/usr/bin/env node
// Inside the test:vm guest (started by test/vm/run.mjs through run-in-vm.sh): checks that this
// kernel has the facilities the suite is about, then runs the vitest files under test/vm/ with
// their own config. `--here` runs it on the current machine instead (a kernel with kprobes).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../..');
const args = process.argv.slice(2);
const here = args[0] === '--here';
if (here) args.shift();

if (!process.env.RUN_IN_VM && !here) {
  process.stderr.write('test/vm/guest.mjs runs inside the test:vm guest; use `npm run test:vm` (or pass --here on a kernel with kprobes)\n');
  process.exit(2);
}

const tracefs = '/sys/kernel/tracing';
const release = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
const facilities = ['kprobe_events', 'uprobe_events', 'dynamic_events'].map((f) => `${f}:${existsSync(join(tracefs, f)) ? 'yes' : 'no'}`);
process.stdout.write(`guest: Linux ${release}, ${facilities.join(' ')}, node ${process.version}\n`);
if (!existsSync(join(tracefs, 'kprobe_events'))) {
  process.stderr.write(`guest: this kernel (${release}) has no kprobe events; the suite needs a kernel with CONFIG_KPROBE_EVENTS\n`);
  process.exit(1);
}

// The verbose reporter prints each test as it finishes, so a stuck test is the one after the last
// line printed. A watchdog (GUEST_TIMEOUT seconds, below the host's VM_TIMEOUT) shows what every
// process is blocked on, and the kernel's recent messages, before giving up: a hang in CI then says
// where it is instead of ending in a silent VM timeout.
const vitest = join(REPO, 'node_modules/.bin/vitest');
const child = spawn(vitest, ['run', '--reporter=verbose', '--config', join(HERE, 'vitest.config.mjs'), ...args],
  { cwd: REPO, stdio: 'inherit', detached: true });
const limit = Number(process.env.GUEST_TIMEOUT ?? 600);
const watchdog = setTimeout(() => {
  process.stderr.write(`\nguest: the suite has not finished after ${limit} s; what each process is waiting on:\n${processReport()}\n`);
  const dmesg = spawnSync('dmesg', ['--level=emerg,alert,crit,err,warn'], { encoding: 'utf8' });
  process.stderr.write(`guest: the kernel's last warnings:\n${(dmesg.stdout ?? '').split('\n').slice(-40).join('\n')}\n`);
  try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
  process.exit(124);
}, limit * 1000);
child.on('exit', (code, signal) => {
  clearTimeout(watchdog);
  process.exit(code ?? (signal ? 128 : 1));
});

/** One line per process: pid, state, command line, the kernel function it sleeps in, and its kernel stack if blocked. */
function processReport() {
  const lines = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    const read = (f) => { try { return readFileSync(`/proc/${pid}/${f}`, 'utf8'); } catch { return ''; } };
    const stat = read('stat');
    const state = /\) (\S)/.exec(stat)?.[1] ?? '?';
    const cmd = read('cmdline').split('\0').join(' ').trim() || `[${read('comm').trim()}]`;
    if (cmd.startsWith('[')) continue; // kernel threads
    lines.push(`  ${pid} ${state} ${read('wchan') || '-'} ${cmd.slice(0, 160)}`);
    if (state === 'D') lines.push(read('stack').trimEnd().replace(/^/gm, '      '));
  }
  return lines.join('\n');
}
