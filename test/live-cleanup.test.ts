// Every way a live run can end leaves tracefs as it was: no tstap_* instance, no dynamic event of ours, no event
// enabled anywhere by us. Also: a SIGKILLed run is cleaned up by the next run, and two runs at once see only their
// own events and never touch each other's instance.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { execa, type ExecaChildProcess } from 'execa';
import { missingFeature } from './support/features.js';

const REPO = resolve(import.meta.dirname, '..');
/** TSTAP_BIN runs another build (e.g. a scratch wiring); default: this repository's CLI. */
const BIN = process.env.TSTAP_BIN ?? join(REPO, 'bin/tstap.js');
const TRACEFS = '/sys/kernel/tracing';
const missing = missingFeature('syscall-tracepoints') ?? missingFeature('gcc');

let tmp = '';
let baselineSetEvent = '';

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function ourInstances(): string[] {
  return readdirSync(join(TRACEFS, 'instances')).filter((n) => n.startsWith('tstap_'));
}

/** What of ours is in tracefs: instances, dynamic event definitions, events enabled in the top instance. */
function leftovers(): string[] {
  const found = ourInstances().map((n) => `instance ${n}`);
  for (const file of ['dynamic_events', 'uprobe_events', 'kprobe_events']) {
    for (const line of read(join(TRACEFS, file)).split('\n')) if (line.includes('tstap_')) found.push(`${file}: ${line}`);
  }
  if (read(join(TRACEFS, 'set_event')) !== baselineSetEvent) found.push(`set_event changed: ${read(join(TRACEFS, 'set_event'))}`);
  return found;
}

function tstap(args: string[], nodeArgs: string[] = []): ExecaChildProcess {
  return execa('node', [...nodeArgs, BIN, ...args], { cwd: tmp, reject: false, stdin: 'ignore', timeout: 30_000 });
}

async function waitFor(what: string, test: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!test()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts a run whose begin probe prints "armed" once every probe is in place; resolves when it has. */
async function armed(args: string[]): Promise<{ child: ExecaChildProcess; out: () => string }> {
  const child = tstap(args);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  await waitFor('the run to arm', () => out.includes('armed'));
  return { child, out: () => out };
}

const ARMED_FOREVER = 'probe begin { printf("armed\\n") } probe kernel.trace("sched:sched_switch") { }';

describe.skipIf(!!missing)('live runs clean up after themselves', () => {
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'tstap-live-'));
    await execa('gcc', ['-O2', '-o', join(tmp, 'getppid-burst'), join(REPO, 'test/fixtures/getppid-burst.c')]);
    await execa('gcc', ['-g', '-O0', '-o', join(tmp, 'add'), join(REPO, '../shared/acceptance/add.c')]);
    baselineSetEvent = read(join(TRACEFS, 'set_event'));
    // A killed run of an earlier test session would be counted against us: clear it the way tstap does.
    await tstap(['-e', 'probe kernel.trace("syscalls:sys_enter_getppid") { } probe begin { exit() }']);
    expect(leftovers()).toEqual([]);
  }, 60_000);

  afterAll(async () => {
    // If a test failed half-way, a fresh run removes what a dead run left.
    if (tmp) await tstap(['-e', 'probe kernel.trace("syscalls:sys_enter_getppid") { } probe begin { exit() }']);
  }, 60_000);

  it('at the end of the script (exit() in an event handler)', async () => {
    const r = await tstap(['-e', 'probe kernel.trace("syscalls:sys_enter_getppid") { if (pid() == target()) { printf("seen\\n"); exit() } }', '-c', './getppid-burst 10']);
    expect(r.stdout).toBe('seen');
    expect(r.exitCode).toBe(0);
    expect(leftovers()).toEqual([]);
  });

  it('after -T', async () => {
    const started = Date.now();
    const r = await tstap(['-T', '1', '-e', 'probe kernel.trace("sched:sched_switch") { } probe end { printf("end\\n") }']);
    expect(r.stdout).toBe('end');
    expect(r.exitCode).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(leftovers()).toEqual([]);
  });

  it('after a runtime error in a handler', async () => {
    const r = await tstap(['-e', 'probe kernel.trace("syscalls:sys_enter_getppid") { if (pid() == target()) error("boom") }', '-c', './getppid-burst 10']);
    expect(r.stderr).toMatch(/^ERROR: boom/m);
    expect(r.exitCode).toBe(1);
    expect(leftovers()).toEqual([]);
  });

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`after ${signal}, running end probes first`, async () => {
      const { child, out } = await armed(['-e', `${ARMED_FOREVER} probe end { printf("end\\n") }`]);
      expect(ourInstances().some((n) => n.startsWith(`tstap_${child.pid}_`))).toBe(true);
      child.kill(signal);
      const r = await child;
      expect(out()).toBe('armed\nend\n');
      expect(r.exitCode).toBe(0);
      expect(leftovers()).toEqual([]);
    });
  }

  it('after an exception in tstap itself', async () => {
    // A preloaded module throws from a timer once the run is armed: an uncaught exception, as a bug would be.
    const crash = join(tmp, 'crash.cjs');
    writeFileSync(crash, `
      const fs = require('fs');
      const t = setInterval(() => {
        if (fs.readdirSync('${TRACEFS}/instances').some((n) => n.startsWith('tstap_' + process.pid + '_'))) {
          clearInterval(t);
          setTimeout(() => { throw new Error('injected crash'); }, 100);
        }
      }, 5);
    `);
    const r = await tstap(['-e', ARMED_FOREVER], ['--require', crash]);
    expect(r.stderr).toMatch(/injected crash/);
    expect(r.exitCode).not.toBe(0);
    expect(leftovers()).toEqual([]);
  });

  it('after kill -9, by the next run, which leaves live runs alone', async () => {
    // With uprobes, the killed run also leaves a dynamic event definition behind.
    const uprobe = missingFeature('uprobes') ? '' : ' probe process("./add").function("add") { }';
    const killed = await armed(['-e', ARMED_FOREVER + uprobe]);
    const live = await armed(['-e', ARMED_FOREVER + uprobe]);
    killed.child.kill('SIGKILL');
    await killed.child;
    const killedInstances = ourInstances().filter((n) => n.startsWith(`tstap_${killed.child.pid}_`));
    expect(killedInstances).toHaveLength(1);
    expect(read(join(TRACEFS, 'instances', killedInstances[0]!, 'events/sched/sched_switch/enable')).trim()).toBe('1');
    const definedBy = (pid: number | undefined) => read(join(TRACEFS, 'uprobe_events')).split('\n').filter((l) => l.includes(`tstap_${pid}_`));
    if (uprobe) expect(definedBy(killed.child.pid)).toHaveLength(1);

    const fresh = await tstap(['-e', 'probe kernel.trace("syscalls:sys_enter_getppid") { } probe begin { exit() }']);
    expect(fresh.exitCode).toBe(0);
    expect(existsSync(join(TRACEFS, 'instances', killedInstances[0]!))).toBe(false);
    expect(definedBy(killed.child.pid)).toEqual([]);
    if (uprobe) expect(definedBy(live.child.pid)).toHaveLength(1);
    expect(ourInstances().filter((n) => n.startsWith(`tstap_${live.child.pid}_`))).toHaveLength(1);

    live.child.kill('SIGINT');
    expect((await live.child).exitCode).toBe(0);
    expect(leftovers()).toEqual([]);
  }, 30_000);

  it('two runs at once each count only their own events, and both clean up', async () => {
    const script = 'global n; probe kernel.trace("syscalls:sys_enter_getppid") { if (pid() == target()) n++ } probe end { printf("%d\\n", n) }';
    const [a, b] = await Promise.all([
      tstap(['-e', script, '-c', './getppid-burst 30000']),
      tstap(['-e', script, '-c', './getppid-burst 70000']),
    ]);
    expect([a.stdout, a.stderr, a.exitCode]).toEqual(['30000', '', 0]);
    expect([b.stdout, b.stderr, b.exitCode]).toEqual(['70000', '', 0]);
    expect(leftovers()).toEqual([]);
  }, 30_000);

  it('a run that ends while another is still tracing leaves the other one running', async () => {
    const slow = 'global n; probe begin { printf("armed\\n") } probe kernel.trace("syscalls:sys_enter_getppid") { if (ppid() == target()) n++ } probe end { printf("%d\\n", n) }';
    const a = tstap(['-e', slow, '-c', 'sh -c "sleep 1; ./getppid-burst 3000"']);
    let aOut = '';
    a.stdout!.on('data', (d: Buffer) => { aOut += d.toString(); });
    await waitFor('the first run to arm', () => aOut.includes('armed'));
    const b = await tstap(['-e', 'global n; probe kernel.trace("syscalls:sys_enter_getppid") { if (pid() == target()) n++ } probe end { printf("%d\\n", n) }', '-c', './getppid-burst 7000']);
    expect(b.stdout).toBe('7000');
    expect(ourInstances().filter((n) => n.startsWith(`tstap_${a.pid}_`))).toHaveLength(1);
    const ra = await a;
    expect(aOut).toBe('armed\n3000\n');
    expect(ra.exitCode).toBe(0);
    expect(leftovers()).toEqual([]);
  }, 30_000);
});
