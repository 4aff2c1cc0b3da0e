/**
 * The in-stream process table: for every thread id, its process id (thread group) and command name, and for every
 * process its parent and executable, as they were at the moment of the event being handled. Seeded from /proc when
 * the session starts, then kept current by scheduler and task events read in time order with the probes' events,
 * so that a process that exec'd and exited within a millisecond is still named and grouped correctly later.
 */
import { readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

/** clone(2) flags that decide what a new task is. */
export const CLONE_PARENT = 0x8000;
export const CLONE_THREAD = 0x10000;

interface ThreadEntry {
  tgid: number;
  comm: string;
  /** Event time (trace clock ns) of its exit; it stays known for events stamped soon after. */
  exitedAt?: number;
}

interface ProcessEntry {
  ppid: number;
  /** The executable's path: /proc/PID/exe at the start, later the filename of its exec. */
  exe?: string;
  exitedAt?: number;
}

/** How long (event time) exited tasks stay in the table for late events that name them. */
const KEEP_EXITED_NS = 10e9;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

function numericEntries(dir: string): number[] {
  try {
    return readdirSync(dir).filter((n) => /^\d+$/.test(n)).map(Number);
  } catch {
    return [];
  }
}

export class TaskTable {
  private readonly threads = new Map<number, ThreadEntry>();
  private readonly processes = new Map<number, ProcessEntry>();
  private readonly realpaths = new Map<string, string | undefined>();
  /** Thread ids /proc did not know either: not looked up again for every event they send. */
  private readonly unknown = new Set<number>();

  constructor(private readonly procRoot = '/proc') {}

  get size(): number {
    return this.threads.size;
  }

  /** Records every thread and process alive now. Call after the task events are enabled, before probes are. */
  seedFromProc(): void {
    for (const pid of numericEntries(this.procRoot)) {
      const stat = readText(`${this.procRoot}/${pid}/stat`);
      if (stat === undefined) continue;
      // "pid (comm) state ppid ...": the comm may contain spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      let exe: string | undefined;
      try {
        exe = readlinkSync(`${this.procRoot}/${pid}/exe`);
      } catch {
        // Kernel threads have no executable.
      }
      this.processes.set(pid, { ppid: Number.isInteger(ppid) ? ppid : 0, exe });
      for (const tid of numericEntries(`${this.procRoot}/${pid}/task`)) {
        const comm = readText(`${this.procRoot}/${pid}/task/${tid}/comm`);
        if (comm !== undefined) this.threads.set(tid, { tgid: pid, comm: comm.replace(/\n$/, '') });
      }
    }
  }

  /** Looks up a thread that no event has told us about (it predates the session); undefined if it is gone. */
  private fromProc(tid: number): ThreadEntry | undefined {
    if (this.unknown.has(tid)) return undefined;
    const status = readText(`${this.procRoot}/${tid}/status`);
    const tgid = Number(/^Tgid:\s*(\d+)/m.exec(status ?? '')?.[1]);
    const comm = readText(`${this.procRoot}/${tid}/comm`);
    if (status === undefined || !Number.isInteger(tgid) || comm === undefined) {
      if (this.unknown.size >= 4096) this.unknown.clear();
      this.unknown.add(tid);
      return undefined;
    }
    const entry: ThreadEntry = { tgid, comm: comm.replace(/\n$/, '') };
    this.threads.set(tid, entry);
    if (!this.processes.has(tgid)) {
      const ppid = Number(/^PPid:\s*(\d+)/m.exec(readText(`${this.procRoot}/${tgid}/status`) ?? '')?.[1]);
      this.processes.set(tgid, { ppid: Number.isInteger(ppid) ? ppid : 0 });
    }
    return entry;
  }

  private thread(tid: number): ThreadEntry | undefined {
    return this.threads.get(tid) ?? this.fromProc(tid);
  }

  /** The process id (thread group id) of a thread; the thread id itself when nothing is known. */
  tgidOf(tid: number): number {
    if (tid === 0) return 0;
    return this.thread(tid)?.tgid ?? tid;
  }

  commOf(tid: number): string | undefined {
    return this.thread(tid)?.comm;
  }

  /**
   * The parent process id, as getppid() would answer at the current event. Undefined once the parent has exited
   * (the child was reparented to a subreaper the stream does not name) or when the process is unknown.
   */
  ppidOf(pid: number): number | undefined {
    const proc = this.processes.get(pid);
    if (!proc) return undefined;
    if (proc.ppid === 0) return 0;
    const parent = this.processes.get(proc.ppid);
    if (!parent || parent.exitedAt !== undefined) return undefined;
    return proc.ppid;
  }

  exeOf(pid: number): string | undefined {
    return this.processes.get(pid)?.exe;
  }

  /** task:task_newtask, emitted by the parent thread `parentTid`. */
  newTask(parentTid: number, childTid: number, comm: string, cloneFlags: number | bigint): void {
    const flags = typeof cloneFlags === 'bigint' ? Number(cloneFlags & 0xffffffffn) : cloneFlags % 0x100000000;
    this.unknown.delete(childTid);
    const parentTgid = this.tgidOf(parentTid);
    if (flags & CLONE_THREAD) {
      this.threads.set(childTid, { tgid: parentTgid, comm });
      return;
    }
    this.threads.set(childTid, { tgid: childTid, comm });
    const parentProc = this.processes.get(parentTgid);
    // CLONE_PARENT makes the child a sibling of its creator.
    const ppid = flags & CLONE_PARENT ? parentProc?.ppid ?? 0 : parentTgid;
    this.processes.set(childTid, { ppid, exe: parentProc?.exe });
  }

  /** task:task_rename: a thread's comm changed (prctl, /proc/PID/comm, or exec, which renames before it reports). */
  rename(tid: number, comm: string): void {
    const entry = this.thread(tid);
    if (entry) entry.comm = comm;
  }

  /** sched:sched_process_exec. A non-leader thread that execs takes over the leader's id (`pid`). */
  exec(pid: number, oldPid: number, filename: string, comm: string | undefined, at: number): void {
    let entry = this.threads.get(pid);
    if (oldPid !== pid) {
      const old = this.threads.get(oldPid);
      if (old) old.exitedAt = at;
      // The rename that exec does comes after the thread took the leader's id, so it went to `pid`'s entry.
      entry = { tgid: pid, comm: comm ?? entry?.comm ?? old?.comm ?? '' };
      this.threads.set(pid, entry);
    } else if (!entry) {
      entry = { tgid: pid, comm: comm ?? '' };
      this.threads.set(pid, entry);
    }
    if (comm !== undefined) entry.comm = comm;
    const exe = isAbsolute(filename) ? filename : this.absolute(pid, filename);
    const proc = this.processes.get(pid);
    if (proc) {
      proc.exe = exe;
      proc.exitedAt = undefined;
    } else {
      this.processes.set(pid, { ppid: 0, exe });
    }
  }

  /**
   * A relative exec filename, resolved against the working directory of the process while it still runs, else of
   * its nearest living ancestor, from which it inherited it (a process that changed directory between fork and exec
   * is the case this gets wrong). No event carries the directory: this is the one lookup made after the fact.
   */
  private absolute(pid: number, filename: string): string {
    for (let p: number | undefined = pid, depth = 0; p && depth < 16; p = this.processes.get(p)?.ppid, depth++) {
      try {
        return join(readlinkSync(`${this.procRoot}/${p}/cwd`), filename);
      } catch {
        // Gone already: try its parent.
      }
    }
    return filename;
  }

  /** sched:sched_process_exit of thread `tid`; `groupDead` when it was the last thread of its process. */
  exit(tid: number, groupDead: boolean, at: number): void {
    const entry = this.threads.get(tid);
    if (entry) entry.exitedAt = at;
    if (groupDead) {
      const proc = this.processes.get(entry?.tgid ?? tid);
      if (proc) proc.exitedAt = at;
    }
  }

  /** Forgets tasks that exited more than KEEP_EXITED_NS before event time `now`. */
  collect(now: number): void {
    const before = now - KEEP_EXITED_NS;
    for (const [tid, t] of this.threads) if (t.exitedAt !== undefined && t.exitedAt < before) this.threads.delete(tid);
    for (const [pid, p] of this.processes) if (p.exitedAt !== undefined && p.exitedAt < before) this.processes.delete(pid);
  }

  /** Whether `exe` (as recorded) is the file `path` names: the same string, or the same file after resolving links. */
  sameFile(exe: string | undefined, path: string): boolean {
    if (exe === undefined) return false;
    if (exe === path) return true;
    const a = this.resolve(exe);
    return a !== undefined && a === this.resolve(path);
  }

  private resolve(path: string): string | undefined {
    if (!isAbsolute(path)) return undefined;
    if (this.realpaths.has(path)) return this.realpaths.get(path);
    let real: string | undefined;
    try {
      real = realpathSync(path);
    } catch {
      real = undefined;
    }
    this.realpaths.set(path, real);
    return real;
  }
}
