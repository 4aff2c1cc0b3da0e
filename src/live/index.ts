/**
 * The live event source's entry points: a session for the probes of a program that need kernel events, and the
 * `-c` command, started through /bin/sh once every probe is armed.
 */
import { execa } from 'execa';
import type { Program } from '../elaborate/program.js';
import type { EventSource } from '../runtime/runtime.js';
import { kernelProbes, LiveError, LiveSession, type LiveOptions } from './session.js';

export { LiveError, LiveSession, type LiveOptions } from './session.js';

/**
 * The event source for `program`'s tracepoint and process probes, or undefined when no probe needs kernel events
 * (then nothing in the kernel is touched). Throws LiveError for probe kinds it cannot arm or a bad -s value;
 * start() throws LiveError when tracefs cannot be used (no privilege, no tracefs, an event the kernel refuses).
 */
export function createLiveSession(program: Program, opts: LiveOptions): EventSource | undefined {
  const probes = kernelProbes(program);
  return probes.length ? new LiveSession(probes, opts) : undefined;
}

/**
 * Runs `cmd` with `/bin/sh -c`, stdin ignored, stdout and stderr shared with tstap. `exited` resolves when it ends,
 * however it ends. tstap does not wait for it: when the run ends first, the command is terminated as tstap exits.
 */
export function startCommand(cmd: string): { pid: number; exited: Promise<void> } {
  const child = execa('/bin/sh', ['-c', cmd], {
    stdin: 'ignore', stdout: 'inherit', stderr: 'inherit', reject: false, buffer: false, cleanup: true,
  });
  const exited = child.then(() => undefined, () => undefined);
  if (child.pid === undefined) throw new LiveError(`cannot start the command '${cmd}' with /bin/sh`);
  child.unref();
  return { pid: child.pid, exited };
}
