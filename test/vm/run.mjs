#!/usr/bin/env node
// `npm run test:vm`: the kprobe test suite, run inside a throw-away QEMU guest that boots Debian's
// stock kernel (which has kprobe events, unlike kernels built without CONFIG_KPROBE_EVENTS), with
// this checkout shared read-write at the same path. One boot per run (a second only if the first hangs): the guest runs
// test/vm/guest.mjs, which runs the vitest files under test/vm/. Arguments are passed to vitest.
//
// Needs: qemu-system-x86_64, a static busybox, xz and dpkg-deb
//   (apt-get install --no-install-recommends qemu-system-x86 busybox-static xz-utils);
// the first run downloads the kernel package with apt-get (cached under /var/cache/run-in-vm).
// With /dev/kvm and a CPU advertising vmx/svm the guest runs under KVM, otherwise under TCG
// emulation (slower: Node runs several times slower there).
// Knobs: VM_TIMEOUT (seconds, default 600), GUEST_TIMEOUT (the guest's watchdog, default VM_TIMEOUT - 180),
// VM_SMP (default 2), VM_MEM (default 3G), VM_KERNEL_PKG, VM_VERBOSE=1,
// and the rest documented at the top of test/vm/run-in-vm.sh.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../..');
const RUN_IN_VM = join(HERE, 'run-in-vm.sh');

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function missingTools() {
  const missing = ['qemu-system-x86_64', 'xz', 'dpkg-deb', 'timeout'].filter((t) => !have(t));
  const busybox = process.env.VM_BUSYBOX ?? '/bin/busybox';
  const list = spawnSync(busybox, ['--list'], { encoding: 'utf8' });
  if (list.status !== 0 || !list.stdout.split('\n').includes('switch_root')) missing.push(`a static busybox at ${busybox}`);
  return missing;
}

function accelerator() {
  if (process.env.VM_ACCEL && process.env.VM_ACCEL !== 'auto') return process.env.VM_ACCEL;
  let cpu = '';
  try {
    cpu = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // No /proc/cpuinfo: run-in-vm.sh decides the same way and will fall back to TCG.
  }
  return existsSync('/dev/kvm') && /\b(vmx|svm)\b/.test(cpu) ? 'kvm' : 'tcg (emulation)';
}

const missing = missingTools();
if (missing.length) {
  process.stderr.write(`test:vm: missing ${missing.join(', ')}\n` +
    'install them with: apt-get install --no-install-recommends qemu-system-x86 busybox-static xz-utils\n');
  process.exit(2);
}

const env = {
  ...process.env,
  VM_WORKDIR: REPO,
  VM_TIMEOUT: process.env.VM_TIMEOUT ?? '600',
  VM_SMP: process.env.VM_SMP ?? '2',
  VM_MEM: process.env.VM_MEM ?? '3G',
  // Warnings (hung tasks, RCU stalls, the OOM killer) reach the console, which is shown on a timeout.
  VM_APPEND: `loglevel=5 ${process.env.VM_APPEND ?? ''}`.trim(),
};
// The guest's own watchdog reports what is stuck well before the VM is killed. The suite takes
// about 90 s under emulation; the limits leave room for a machine several times slower.
env.GUEST_TIMEOUT ??= String(Math.max(60, Number(env.VM_TIMEOUT) - 180));

/** One boot of the guest running the suite; resolves to its exit status. */
function boot(attempt) {
  const started = performance.now();
  process.stderr.write(`test:vm: booting the guest (${accelerator()})${attempt > 1 ? `, attempt ${attempt}` : ''}, sharing ${REPO}\n`);
  const child = spawn('bash', [RUN_IN_VM, 'node', 'test/vm/guest.mjs', ...process.argv.slice(2)], { cwd: REPO, env, stdio: 'inherit' });
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolvePromise) => child.on('exit', (code, signal) => {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const status = code ?? (signal ? 128 : 1);
    const meaning = status === 124 ? ' (timed out: see what the guest or run-in-vm printed above; GUEST_TIMEOUT and VM_TIMEOUT set the limits)' : status === 125 ? ' (the guest could not be set up)' : '';
    process.stderr.write(`test:vm: finished in ${seconds} s with status ${status}${meaning}\n`);
    resolvePromise(status);
  }));
}

// A hang (status 124) gets one more boot: an emulated guest can stall for reasons of its own, and
// what was stuck has been printed above. A failing test is never retried.
let status = await boot(1);
if (status === 124) {
  process.stderr.write('test:vm: the first boot timed out; booting once more\n');
  status = await boot(2);
}
process.exit(status);
