/**
 * The context a handler runs in: which process and CPU the event came from, its timestamp,
 * the decoded event fields. For begin, end, error and timer probes it describes tstap itself.
 */
export interface ProbeInfo { id: string; pp: string }

export interface Context {
  pid: number;
  tid: number;
  cpu: number;
  /** The event's own timestamp: CLOCK_MONOTONIC nanoseconds (tracefs `mono` clock). */
  ts: bigint;
  /** Decoded event fields, in the order elaboration indexed them. */
  f: unknown[];
  probe: ProbeInfo;
  /** Resolves the command name of a thread; absent for events without a process. */
  comm?: string;
  /** uid of the thread, when the event carries it. */
  uid?: number;
  /** Kernel return addresses of the event, innermost first (from the event's stacktrace trigger). */
  stack?: bigint[];
  /** User return addresses of the event, innermost first (from the instance's userstacktrace option). */
  ustack?: bigint[];
}

export function selfContext(probe: ProbeInfo): Context {
  return { pid: process.pid, tid: process.pid, cpu: 0, ts: process.hrtime.bigint(), f: [], probe, comm: 'tstap' };
}
