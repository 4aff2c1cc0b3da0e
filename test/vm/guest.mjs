#!/usr/bin/env node
// Inside the test:vm guest (started by test/vm/run.mjs through run-in-vm.sh): checks that this
// kernel has the facilities the suite is about, then runs the vitest files under test/vm/ with
// their own config. `--here` runs it on the current machine instead (a kernel with kprobes).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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

const vitest = join(REPO, 'node_modules/.bin/vitest');
const result = spawnSync(vitest, ['run', '--config', join(HERE, 'vitest.config.mjs'), ...args], { cwd: REPO, stdio: 'inherit' });
process.exit(result.status ?? 1);
