// The in-stream task table (src/live/tasks.ts): seeded from a /proc-shaped directory, then driven by the task
// events in the order the kernel emitted them.
import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CLONE_PARENT, CLONE_THREAD, TaskTable } from '../src/live/tasks.js';

/** A fake /proc: init (1) and a shell (100, parent 1) with a second thread 101. */
function fakeProc(): string {
  const root = mkdtempSync(join(tmpdir(), 'tstap-proc-'));
  const proc = (pid: number, comm: string, ppid: number, threads: Array<[number, string]>, exe?: string) => {
    mkdirSync(join(root, String(pid), 'task'), { recursive: true });
    writeFileSync(join(root, String(pid), 'stat'), `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560\n`);
    writeFileSync(join(root, String(pid), 'status'), `Name:\t${comm}\nTgid:\t${pid}\nPPid:\t${ppid}\n`);
    writeFileSync(join(root, String(pid), 'comm'), `${comm}\n`);
    if (exe) symlinkSync(exe, join(root, String(pid), 'exe'));
    for (const [tid, tcomm] of threads) {
      mkdirSync(join(root, String(pid), 'task', String(tid)));
      writeFileSync(join(root, String(pid), 'task', String(tid), 'comm'), `${tcomm}\n`);
    }
  };
  proc(1, 'init', 0, [[1, 'init']]);
  // A comm with a space and a parenthesis must not confuse the stat parser.
  proc(100, 'my (sh)', 1, [[100, 'my (sh)'], [101, 'worker']], '/bin/sh');
  return root;
}

describe('task table', () => {
  it('is seeded with every thread, its process, parent and executable', () => {
    const t = new TaskTable(fakeProc());
    t.seedFromProc();
    expect(t.tgidOf(100)).toBe(100);
    expect(t.tgidOf(101)).toBe(100);
    expect(t.commOf(101)).toBe('worker');
    expect(t.commOf(100)).toBe('my (sh)');
    expect(t.ppidOf(100)).toBe(1);
    expect(t.ppidOf(1)).toBe(0);
    expect(t.exeOf(100)).toBe('/bin/sh');
    expect(t.tgidOf(0)).toBe(0);
  });

  it('follows fork, threads, CLONE_PARENT, rename, exec and exit', () => {
    const t = new TaskTable(fakeProc());
    t.seedFromProc();
    // The shell's worker thread forks a child: the child's parent is the shell process.
    t.newTask(101, 200, 'worker', 0x1200011);
    expect(t.tgidOf(200)).toBe(200);
    expect(t.ppidOf(200)).toBe(100);
    expect(t.commOf(200)).toBe('worker');
    expect(t.exeOf(200)).toBe('/bin/sh');
    // The child starts a thread (clone_flags is a u64, possibly a bigint).
    t.newTask(200, 201, 'worker', BigInt(CLONE_THREAD | 0x100));
    expect(t.tgidOf(201)).toBe(200);
    // CLONE_PARENT: a sibling of the creator.
    t.newTask(200, 300, 'worker', CLONE_PARENT);
    expect(t.ppidOf(300)).toBe(100);
    t.newTask(200, 210, 'worker', 0);
    expect(t.ppidOf(210)).toBe(200);
    // The non-leader 201 execs: the old leader 200 is reaped, 201 takes over the id 200, exec renames it
    // (task_rename names the new id) and then reports sched_process_exec with old_pid 201.
    t.exit(200, false, 10);
    t.rename(200, 'true');
    t.exec(200, 201, '/usr/bin/true', undefined, 11);
    expect(t.commOf(200)).toBe('true');
    expect(t.tgidOf(200)).toBe(200);
    expect(t.exeOf(200)).toBe('/usr/bin/true');
    // Exited tasks stay known for late events, then are forgotten.
    t.exit(200, true, 20);
    expect(t.commOf(200)).toBe('true');
    expect(t.tgidOf(200)).toBe(200);
    // Its child 210 was reparented to someone the stream does not name; 300's parent lives on.
    expect(t.ppidOf(210)).toBeUndefined();
    expect(t.ppidOf(300)).toBe(100);
    t.collect(20 + 11e9);
    expect(t.exeOf(200)).toBeUndefined();
  });

  it('falls back to /proc for a thread no event named, and remembers a thread that is gone', () => {
    const root = fakeProc();
    const t = new TaskTable(root);
    // Not seeded: the first lookup reads /proc.
    expect(t.tgidOf(100)).toBe(100);
    expect(t.commOf(100)).toBe('my (sh)');
    expect(t.tgidOf(4242)).toBe(4242);
    expect(t.commOf(4242)).toBeUndefined();
  });

  it('resolves a relative exec name against the working directory of the process or its nearest living ancestor', () => {
    const root = fakeProc();
    symlinkSync('/usr/bin', join(root, '100', 'cwd'));
    const t = new TaskTable(root);
    t.seedFromProc();
    t.newTask(100, 500, 'sh', 0);
    t.newTask(500, 600, 'sh', 0);
    // 600 and its parent 500 are gone (no /proc entries): the shell 100 still runs.
    t.exec(600, 600, './true', undefined, 1);
    expect(t.exeOf(600)).toBe('/usr/bin/true');
    t.exec(100, 100, 'bin/x', undefined, 2);
    expect(t.exeOf(100)).toBe('/usr/bin/bin/x');
    // No living ancestor with a known directory: the name stays as it was.
    t.newTask(1, 700, 'init', 0);
    t.exec(700, 700, './y', undefined, 3);
    expect(t.exeOf(700)).toBe('./y');
  });

  it('matches executables by path or by the file they resolve to', () => {
    const t = new TaskTable(fakeProc());
    expect(t.sameFile('/bin/sh', '/bin/sh')).toBe(true);
    expect(t.sameFile(undefined, '/bin/sh')).toBe(false);
    expect(t.sameFile('sh', '/bin/sh')).toBe(false);
    const dir = mkdtempSync(join(tmpdir(), 'tstap-exe-'));
    writeFileSync(join(dir, 'real'), '');
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    expect(t.sameFile(join(dir, 'link'), join(dir, 'real'))).toBe(true);
    expect(t.sameFile(join(dir, 'link'), '/bin/sh')).toBe(false);
  });
});
