/**
 * The live event source's entry points: a session for the probes of a program that need kernel events, and the
 * `-c` command the runtime starts once every probe is armed.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Program } from '../elaborate/program.js';
import type { EventSource } from '../runtime/runtime.js';
import { kernelProbes, LiveError, LiveSession, type LiveOptions } from './session.js';

export { LiveError, LiveSession, type LiveOptions } from './session.js';

/**
 * The event source for `program`'s tracepoint, process, uprobe and kprobe probes, or undefined when no probe needs
 * kernel events (then nothing in the kernel is touched). Throws LiveError for a bad -s value; start() throws
 * LiveError when tracefs cannot be used (no privilege, no tracefs, an event or definition the kernel refuses).
 */
export function createLiveSession(program: Program, opts: LiveOptions): EventSource | undefined {
  const probes = kernelProbes(program);
  return probes.length ? new LiveSession(probes, opts) : undefined;
}

/**
 * The words of `cmd` when it is one simple command that needs nothing from a shell but quote removal: no operators
 * (newline | & ; < > ( ) { }), no expansions ($, backquote, globs, ~, comments), no leading assignment. stap runs
 * such a -c command directly (its wordexp(3) split), so that target() is the command's own pid. Undefined otherwise.
 */
export function splitSimpleCommand(cmd: string): string[] | undefined {
  const words: string[] = [];
  let word: string | undefined;
  let quote: '' | "'" | '"' = '';
  for (let i = 0; i < cmd.length; i++) {
    const ch = cmd[i]!;
    if (quote === "'") {
      if (ch === "'") quote = '';
      else word += ch;
      continue;
    }
    if (quote === '"') {
      if (ch === '"') quote = '';
      else if (ch === '$' || ch === '`') return undefined;
      else if (ch === '\\' && i + 1 < cmd.length && '$`"\\\n'.includes(cmd[i + 1]!)) word += cmd[++i];
      else word += ch;
      continue;
    }
    if (ch === ' ' || ch === '\t') {
      if (word !== undefined) words.push(word);
      word = undefined;
      continue;
    }
    if ('\n|&;<>(){}$`*?[#'.includes(ch) || (ch === '~' && word === undefined)) return undefined;
    word ??= '';
    if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '\\') {
      if (i + 1 >= cmd.length || cmd[i + 1] === '\n') return undefined;
      word += cmd[++i];
    } else word += ch;
  }
  if (quote !== '') return undefined;
  if (word !== undefined) words.push(word);
  if (words.length === 0 || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!)) return undefined;
  return words;
}

/** Whether `file` names an executable, directly or through PATH (otherwise it may be a shell builtin). */
function findExecutable(file: string): boolean {
  const dirs = file.includes('/') ? [''] : (process.env.PATH ?? '/usr/bin:/bin').split(':');
  for (const dir of dirs) {
    try {
      const path = dir === '' ? file : join(dir || '.', file);
      if (!statSync(path).isFile()) continue;
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      // Not here.
    }
  }
  return false;
}

/** Waits (briefly, synchronously) until `pid` is stopped, so that nothing it does escapes the probes armed next. */
function waitStopped(pid: number): void {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 2000; i++) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'T' || state === 't') return;
      if (state === 'Z' || state === 'X') return;
    } catch {
      return;
    }
    Atomics.wait(sleeper, 0, 0, 1);
  }
}

/**
 * Starts the -c command, stopped: stap forks the command before the probes are armed and lets it
 * run only once they are, so target() is known in begin probes and the command's first system
 * call is seen. The command stops itself (`kill -STOP $$`) and then execs what was asked, keeping
 * its pid: a simple command whose program exists directly, as stap does, so that no shell's own
 * system calls are attributed to it; anything else under `/bin/sh -c`. stdin is ignored, stdout and
 * stderr are shared with tstap. `resume()` lets it run; `exited` resolves when it ends, however it
 * ends; when the run ends first, the command is terminated as tstap exits.
 */
export async function startCommand(cmd: string): Promise<{ pid: number; exited: Promise<void>; resume(): void }> {
  // Loaded on demand: most runs have no -c, and every module loaded costs start-up time.
  const { execa } = await import('execa');
  const words = splitSimpleCommand(cmd);
  const target = words && findExecutable(words[0]!) ? words : ['/bin/sh', '-c', cmd];
  const child = execa('/bin/sh', ['-c', 'kill -STOP $$; exec "$@"', 'sh', ...target], {
    stdin: 'ignore', stdout: 'inherit', stderr: 'inherit', reject: false, buffer: false, cleanup: true,
  });
  const exited = child.then(() => undefined, () => undefined);
  if (child.pid === undefined) throw new LiveError(`cannot start the command '${cmd}'`);
  const pid = child.pid;
  child.unref();
  waitStopped(pid);
  return { pid, exited, resume: () => { try { process.kill(pid, 'SIGCONT'); } catch { /* already gone */ } } };
}
