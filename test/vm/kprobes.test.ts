// The kprobe suite, for a kernel with kprobe events (run inside the test:vm guest by
// test/vm/run.mjs). First the kernel's own word: kprobes defined from lowered points through
// TraceInstance (as the live session arms them), hit by real work, with the values the kernel
// recorded; then the acceptance scripts through the CLI: -p3 shows the kprobe_events lines, and
// execsnoop-kprobe.stp, fork-regs.stp and kretprobe.stp print what their headers say.
import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tstap } from './cli.js';
import { planLines } from '../../src/elaborate/dynamic.js';
import { dynamicProbes, traceRun, type TraceHit } from '../support/dynamic.js';

const REPO = resolve(import.meta.dirname, '../..');
// The repo's copies of ../shared/acceptance (test/cases/examples.case checks they are the same): the guest
// sees only this checkout, not the directory beside it.
const ACCEPTANCE = resolve(REPO, 'examples/acceptance');
const TRACEFS = '/sys/kernel/tracing';
const haveKprobes = existsSync(join(TRACEFS, 'kprobe_events'));


describe.skipIf(!haveKprobes)('kprobes armed from lowered definitions', () => {
  afterAll(() => {
    expect(readdirSync(join(TRACEFS, 'instances')).filter((n) => n.startsWith(`tstap_${process.pid}_`))).toEqual([]);
    expect(readFileSync(join(TRACEFS, 'kprobe_events'), 'utf8')).not.toContain(`tstap_${process.pid}_`);
  });

  it('kernel_clone: a kprobe at the function, its address in the record, flags fetched', () => {
    const { hits, pid } = traceRun('probe kernel.function("kernel_clone") { printf("0x%x %x 0x%x\\n", addr(), register("ip"), register("flags")) }',
      ['sh', '-c', '/bin/true; /bin/true']);
    const ours = hits.filter((h) => h.event === 'probe_0' && h.pid === pid);
    expect(ours.length).toBeGreaterThanOrEqual(2);
    for (const h of ours) {
      expect(h.ip).toMatch(/^kernel_clone\+0x0\//);
      // Interrupts are enabled in process context: IF (bit 9) is set.
      expect(BigInt(h.fields['reg_flags']!) & 0x200n).toBe(0x200n);
    }
  });

  it('do_sys_openat2: dfd, the user file name and a struct member read through BTF', () => {
    const { hits, pid } = traceRun('probe kernel.function("do_sys_openat2") { printf("%d %s %d\\n", $dfd, user_string($filename), $how->flags) }',
      ['cat', '/etc/hostname']);
    const open = hits.find((h) => h.pid === pid && h.fields['filename_str'] === '/etc/hostname');
    expect(open?.fields).toMatchObject({ dfd: '-100' });
    expect(Number(open!.fields['how_flags']) & 3).toBe(0); // O_RDONLY
  });

  it('a kretprobe with a companion entry probe: entry dfd, then the returned fd', () => {
    const { hits, pid } = traceRun('probe kernel.function("do_sys_openat2").return { printf("%d %d\\n", $dfd, $return) }', ['cat', '/etc/hostname']);
    const ours = hits.filter((h) => h.pid === pid);
    const entries = ours.filter((h) => h.event === 'probe_0_entry');
    const returns = ours.filter((h) => h.event === 'probe_0');
    expect(entries.length).toBeGreaterThan(0);
    expect(returns.length).toBe(entries.length);
    expect(entries.every((h) => h.fields['dfd'] === '-100')).toBe(true);
    // cat's last open is /etc/hostname, which succeeds: a small non-negative fd.
    expect(Number(returns.at(-1)!.fields['ret'])).toBeGreaterThanOrEqual(0);
    expect(ours.findIndex((h) => h.event === 'probe_0_entry')).toBeLessThan(ours.findIndex((h) => h.event === 'probe_0'));
  });

  it('kernel_string($file->f_path->dentry->d_name->name) in vfs_read names the file being read', () => {
    const { hits, pid } = traceRun('probe kernel.function("vfs_read") { println(kernel_string($file->f_path->dentry->d_name->name)) }', ['cat', '/etc/hostname']);
    expect(hits.filter((h) => h.pid === pid).map((h) => h.fields['d_name_name_str'])).toContain('hostname');
  });
});

describe.skipIf(!haveKprobes)('print_regs() at a kprobe', () => {
  it('prints the registers at do_sys_openat2 in stap\'s layout: RIP is the probe address, RDI the dfd', async () => {
    const r = await tstap(['-e', 'probe kernel.function("do_sys_openat2") { if (pid() == target()) { print_regs(); printf("addr=%x\\n", addr()); exit() } }',
      '-c', 'cat /etc/hostname']);
    expect(r.status, r.stderr).toBe(0);
    const m = /^RIP: 0*([0-9a-f]+)\nRSP: [0-9a-f]{16}  EFLAGS: [0-9a-f]{8}\nRAX: [0-9a-f]{16} RBX: [0-9a-f]{16} RCX: [0-9a-f]{16}\nRDX: [0-9a-f]{16} RSI: [0-9a-f]{16} RDI: [0-9a-f]{8}ffffff9c\nRBP: [0-9a-f]{16} R08: [0-9a-f]{16} R09: [0-9a-f]{16}\nR10: [0-9a-f]{16} R11: [0-9a-f]{16} R12: [0-9a-f]{16}\nR13: [0-9a-f]{16} R14: [0-9a-f]{16} R15: [0-9a-f]{16}\naddr=([0-9a-f]+)$/m.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(m![1]).toBe(m![2]);
  });
});

describe.skipIf(!haveKprobes)('pretty-printing at a kprobe', () => {
  it('$file->f_path->dentry->d_name$$ in vfs_read prints the qstr with the file\'s name', async () => {
    const r = await tstap(['-e', 'probe kernel.function("vfs_read") { if (pid() == target()) println($file->f_path->dentry->d_name$$) }',
      '-c', 'cat /etc/hostname']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\{<union>=\{<class>=\{\.hash=\d+, \.len=8\}, \.hash_len=\d+\}, \.name="hostname"\}$/m);
  });
});

describe('timer.profile on this kernel (its tick handler is tick_sched_timer before 6.9)', () => {
  it('samples a shell loop in user mode and dd in the kernel', async () => {
    const r = await tstap(['-e', 'global u, k probe timer.profile { if (execname() == "sh" && user_mode()) u++; if (execname() == "dd" && !user_mode()) k++ } probe end { printf("%d %d\\n", u > 5, k > 5) }',
      '-c', 'sh -c "timeout 1 sh -c \\"while :; do :; done\\"; timeout 1 dd if=/dev/zero of=/dev/null bs=4M status=none; exit 0"']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('1 1\n');
  });
});

describe.skipIf(!haveKprobes)('the acceptance scripts', () => {
  it('-p3 shows the kprobe_events lines, like the ones the seeds write by hand', async () => {
    const [open] = dynamicProbes(readFileSync(join(ACCEPTANCE, 'kretprobe.stp'), 'utf8').replace(/@entry\((\$\w+)\)/, '$1'));
    expect(planLines(open!.point as never, open!.id)).toEqual([
      'p:tstap/probe_0_entry do_sys_openat2 dfd=%di:s32',
      expect.stringMatching(/^r:tstap\/probe_0 do_sys_openat2 ret=%ax:s(32|64)$/),
    ]);
    const forks = await tstap(['-p3', join(ACCEPTANCE, 'fork-regs.stp')]);
    expect(forks.stderr).toBe('');
    expect(forks.stdout).toMatch(/p:tstap\/probe_0 kernel_clone reg_flags=%flags:s64$/m);
    const rets = await tstap(['-p3', join(ACCEPTANCE, 'kretprobe.stp')]);
    expect(rets.stdout).toMatch(/p:tstap\/probe_0_entry do_sys_openat2 dfd=%di:s32$/m);
  });

  it('fork-regs.stp prints the probe address, ip and flags once per fork', async () => {
    const r = await tstap(['-c', 'sh -c "/bin/true; /bin/true"', join(ACCEPTANCE, 'fork-regs.stp')]);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) {
      const m = /^pre_handler: p->addr = 0x([0-9a-f]+), ip = ([0-9a-f]+), flags = 0x([0-9a-f]+)$/.exec(line);
      expect(m, line).not.toBeNull();
      // stap shows the probed instruction's address as ip at a kprobe.
      expect(m![2]).toBe(m![1]);
    }
  });

  it('kretprobe.stp prints dfd at entry and the returned fd for each open of cat', async () => {
    const r = await tstap(['-c', 'cat /etc/hostname', join(ACCEPTANCE, 'kretprobe.stp')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^openat2 dfd=-100 -> fd \d+$/m);
  });

  it('the seed listing sys_sync.stp counts sync() calls at the syscall wrapper; its bare `pid` is a never-assigned local, as in stap', async () => {
    const r = await tstap(['-c', 'sync', join(REPO, 'test/fixtures/seeds/sys_sync.stp')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('sys_sync called 1 times, currently by pid 0/n');
    expect(r.stderr).toMatch(/^WARNING: never-assigned local variable 'pid'/m);
  });

  it('execsnoop-kprobe.stp prints one line per exec, with the file name read from the kernel function\'s argument', async () => {
    const r = await tstap(['-c', 'sh -c "/bin/true"', join(ACCEPTANCE, 'execsnoop-kprobe.stp')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\|pid: +\d+ \|comm: +\S+ \|filename = +\/bin\/true\|$/m);
    // Debian's 6.1 compiles do_execveat_common as an IPA-SRA clone that BTF leaves out: the argument is
    // read by the declaration in tapsets/linux/functions.h, and a warning says so.
    if (/ do_execveat_common\.isra\.\d+$/m.test(readFileSync('/proc/kallsyms', 'utf8'))) {
      expect(r.stderr).toMatch(/^WARNING: \$filename: do_execveat_common\.isra\.\d+ is the kernel's optimised clone of do_execveat_common; its arguments are read by its declaration at \S+functions\.h:\d+/m);
    }
  });
});
