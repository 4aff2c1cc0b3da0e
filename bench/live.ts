/**
 * Live tracing cost (the `npm run bench` lines of issues 5-7), every case measured in one run against baselines of
 * the same run: a workload alone and under tstap, bpftrace and perf. Each tracer starts the workload itself once
 * its probes are armed (`-c`, perf's command mode); the workloads time their own loop, so a tracer's start-up and
 * teardown never count as workload time. A tracer's CPU is its own process's (bench/fixtures/cpu-of.c, which
 * leaves out the workload it reaps), less what the same tracer costs on an empty workload.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable, median, timeCommand } from './harness.js';

const ROUNDS = 5;
const STARTUP_RUNS = 5;
const BURST_CALLS = 2_000_000;
const UPROBE_CALLS = 1_000_000;
const MIXED_ITERATIONS = 1_000_000;
/** getppid, getpid, read, write per iteration of the mixed workload (bench/fixtures/syscalls.c). */
const MIXED_SYSCALLS_PER_ITERATION = 4;
/** Far above any healthy run (the slowest, tstap over the mixed workload, takes ~3 s here): only a hang trips it. */
const RUN_TIMEOUT_MS = 60_000;
/** Goals from issue 5 (measured on this machine class, ../shared/docs/tracefs.md, last section). */
const CPU_PER_EVENT_GOAL_NS = 300;
const STARTUP_GOAL_MS = 200;
const TRACEFS = '/sys/kernel/tracing';

/** Events a tracer saw and the losses it reported (undefined: it has no notion of loss, e.g. in-kernel counts). */
interface Counts { seen: number; lost?: number; lostUncounted?: boolean }

/** One way of running a workload: alone, or under a tracer that starts it once armed. */
interface Variant {
  name: string;
  /** Why the variant cannot run on this machine; printed in its row. */
  missing?: string;
  /** The command line that runs `workload` under the tracer (absent: the workload alone). */
  under?: (workload: string[]) => string[];
  /** Events seen and losses reported, from the tracer's output of one run. */
  counts?: (out: { stdout: string; stderr: string }) => Counts;
  /** Turns a failure message into the text of the row (e.g. a probe type not supported yet). */
  explain?: (message: string) => string;
}

interface Run {
  workloadNs: number;
  startNs: number;
  exitNs: number;
  cpuNs: number;
  /** The clock tick CPU times are counted in (10 ms), so the resolution of a CPU difference. */
  tickNs: number;
  counts?: Counts;
}

interface Outcome { variant: Variant; runs: Run[]; empty: Run[]; failure?: string }

/** Built fixtures and the tools found, shared by every case. */
interface Setup {
  dir: string;
  tstap: string[];
  cpuOf?: string;
  syscalls?: string;
  calls?: string;
  /** Why the C fixtures could not be built. */
  noFixtures?: string;
  bpftrace?: string;
  noBpftrace?: string;
  perf?: string;
  noPerf?: string;
}

export function benchLive(repo: string): void {
  console.log(`## live tracing (medians of ${ROUNDS}; ratios against the workload alone in the same run)`);
  const skip = liveSkipReason();
  if (skip) {
    console.log(`  skipped: ${skip}`);
    return;
  }
  const started = performance.now();
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'tstap-live-'));
  try {
    const setup = prepare(repo, dir);
    for (const [name, run] of [
      ['getppid burst', benchBurst], ['start-up', benchStartup], ['uprobe', benchUprobe], ['syscall.*', benchMixed],
    ] as const) {
      try {
        run(setup);
      } catch (err) {
        console.log(`  ${name}: failed: ${firstLine((err as Error).message)}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const left = leftovers();
  if (left.length) console.log(`  WARNING: tracefs holds leftovers of dead tstap runs: ${left.join(', ')}`);
  console.log(`  (live benchmarks took ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}

function liveSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (tracefs, bpftrace and perf -a all do)';
  if (!existsSync(join(TRACEFS, 'events/syscalls'))) return `no syscall tracepoints under ${TRACEFS} (is tracefs mounted?)`;
  return undefined;
}

function prepare(repo: string, dir: string): Setup {
  const setup: Setup = { dir, tstap: [process.execPath, join(repo, 'bin/tstap.js')] };
  const gcc = findExecutable('gcc');
  if (!gcc) {
    setup.noFixtures = 'gcc not found';
  } else {
    try {
      const fixtures = join(repo, 'bench/fixtures');
      const build = (name: string, flags: string[]): string => {
        const out = join(dir, name);
        const r = spawnSync(gcc, [...flags, '-o', out, join(fixtures, `${name}.c`)], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`gcc ${name}.c: ${r.stderr || r.error?.message}`);
        return out;
      };
      setup.cpuOf = build('cpu-of', ['-O2']);
      setup.syscalls = build('syscalls', ['-O2']);
      // -O0 -g: f stays a real function with DWARF, as a user probing their own program would have it.
      setup.calls = build('calls', ['-O0', '-g']);
    } catch (err) {
      setup.noFixtures = firstLine((err as Error).message);
    }
  }
  setup.bpftrace = findExecutable('bpftrace');
  if (!setup.bpftrace) {
    setup.noBpftrace = 'bpftrace not installed (apt-get install -y bpftrace)';
  } else {
    const r = spawnSync(setup.bpftrace, ['-e', 'BEGIN { exit(); }'], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) {
      setup.noBpftrace = `bpftrace does not run here: ${lastLine(r.stderr) || r.error?.message}`;
      setup.bpftrace = undefined;
    }
  }
  setup.perf = findExecutable('perf');
  if (!setup.perf) setup.noPerf = 'perf not installed';
  return setup;
}

// ---- the cases ------------------------------------------------------------------------------------

/** Issue 5: 2M getppid() calls alone and under each tracer counting them. */
function benchBurst(s: Setup): void {
  const title = `${BURST_CALLS / 1e6}M getppid() calls (tstap -e 'global n; probe syscall.getppid { n++ }')`;
  if (!fixturesReady(s, title)) return;
  const timing = join(s.dir, 'burst.timing');
  const perfData = join(s.dir, 'perf.data');
  const variants: Variant[] = [
    { name: 'alone' },
    tstapVariant(s, 'tstap', 'global n; probe syscall.getppid { n++ }', scalarN),
    bpftraceVariant(s, 'bpftrace', 'tracepoint:syscalls:sys_enter_getppid { @ = count(); }'),
    {
      name: 'perf record -a (moves records)',
      missing: s.noPerf,
      // -B: no build-id pass over the samples at the end; the data file lives on tmpfs when there is one.
      under: (w) => [s.perf!, 'record', '-a', '-B', '-q', '-e', 'syscalls:sys_enter_getppid', '-o', perfData, '--', ...w],
      counts: () => {
        try {
          return perfCounts(s.perf!, perfData, 'syscalls:sys_enter_getppid');
        } finally {
          rmSync(perfData, { force: true });
        }
      },
    },
  ];
  const outcomes = measure(s, variants, (n) => [s.syscalls!, 'getppid', String(n), timing], BURST_CALLS, timing);
  printTable(title, outcomes, BURST_CALLS, 'ns');
  const tstap = stats(outcomes[1]!);
  const bpftrace = stats(outcomes[2]!);
  const alone = stats(outcomes[0]!);
  if (tstap && alone) {
    const slow = tstap.workloadNs / alone.workloadNs;
    const versus = bpftrace ? bpftrace.workloadNs / alone.workloadNs : undefined;
    goals([
      versus === undefined ? undefined : [`slowdown ${slow.toFixed(2)}x <= bpftrace's ${versus.toFixed(2)}x`, slow <= versus],
      noLossGoal(outcomes[1]!),
      tstap.cpuPerEventNs === undefined ? undefined
        : [`tstap CPU ${tstap.cpuPerEventNs.toFixed(0)} ns/event < ${CPU_PER_EVENT_GOAL_NS}`, tstap.cpuPerEventNs < CPU_PER_EVENT_GOAL_NS],
    ]);
  }
}

/** Issue 5: from start to exit of a script that exits in `begin`, against bpftrace and Node itself. */
function benchStartup(s: Setup): void {
  console.log(`  start-up to exit (medians of ${STARTUP_RUNS})`);
  const node = timeCommand(process.execPath, ['-e', '0'], STARTUP_RUNS);
  const tstap = timeCommand(s.tstap[0]!, [...s.tstap.slice(1), '-e', 'probe begin { exit() }'], STARTUP_RUNS);
  let bpftrace: number | undefined;
  try {
    if (s.bpftrace) bpftrace = timeCommand(s.bpftrace, ['-e', 'BEGIN { exit(); }'], STARTUP_RUNS);
  } catch (err) {
    s.noBpftrace = firstLine((err as Error).message);
  }
  row(['node -e 0', `${node.toFixed(0)} ms`]);
  row(["tstap -e 'probe begin { exit() }'", `${tstap.toFixed(0)} ms = node + ${(tstap - node).toFixed(0)} ms`]);
  row(["bpftrace -e 'BEGIN { exit(); }'", bpftrace === undefined ? `unavailable: ${s.noBpftrace}` : `${bpftrace.toFixed(0)} ms`]);
  goals([
    [`tstap ${tstap.toFixed(0)} ms < ${STARTUP_GOAL_MS} ms`, tstap < STARTUP_GOAL_MS],
    bpftrace === undefined ? undefined : [`faster than bpftrace (${(tstap / bpftrace).toFixed(2)}x)`, tstap < bpftrace],
  ]);
}

/** Issue 6: added cost per hit of a uprobe on a function called 1M times. */
function benchUprobe(s: Setup): void {
  const title = `uprobe on f(), ${UPROBE_CALLS / 1e6}M calls (process("…/calls").function("f") { n++ })`;
  if (!fixturesReady(s, title)) return;
  const timing = join(s.dir, 'calls.timing');
  const unsupported = (m: string) => /not supported/i.test(m) ? `unavailable (dynamic probes not supported yet): ${m}` : m;
  const variants: Variant[] = [
    { name: 'alone' },
    { ...tstapVariant(s, 'tstap', `global n; probe process("${s.calls}").function("f") { n++ }`, scalarN), explain: unsupported },
    bpftraceVariant(s, 'bpftrace', `uprobe:${s.calls}:f { @ = count(); }`),
  ];
  const outcomes = measure(s, variants, (n) => [s.calls!, String(n), timing], UPROBE_CALLS, timing);
  printTable(title, outcomes, UPROBE_CALLS, 'µs');
  const tstap = stats(outcomes[1]!);
  const bpftrace = stats(outcomes[2]!);
  const alone = stats(outcomes[0]!);
  if (tstap && bpftrace && alone) {
    const perHit = (x: { workloadNs: number }) => (x.workloadNs - alone.workloadNs) / UPROBE_CALLS / 1000;
    goals([[`tstap +${perHit(tstap).toFixed(2)} µs/hit <= bpftrace's +${perHit(bpftrace).toFixed(2)} µs/hit`, perHit(tstap) <= perHit(bpftrace)]]);
  }
}

/** Issue 7: every syscall counted by name over a mixed syscall-heavy workload. */
function benchMixed(s: Setup): void {
  const total = MIXED_ITERATIONS * MIXED_SYSCALLS_PER_ITERATION;
  const title = `${MIXED_ITERATIONS / 1e6}M x (getppid, getpid, read, write) = ${total / 1e6}M syscalls, all counted by name`;
  if (!fixturesReady(s, title)) return;
  const timing = join(s.dir, 'mixed.timing');
  // Not `global n`: tstap resolves the `n` local of the generated syscall.select/pselect6 aliases to a user global
  // of that name today, and the script fails ("array 'n' used as a scalar").
  const variants: Variant[] = [
    { name: 'alone' },
    tstapVariant(s, 'tstap syscall.* { calls[name]++ }', 'global calls; probe syscall.* { calls[name]++ }', sumOf(/^calls\[[^\n]*\]=(\d+)$/gm)),
    bpftraceVariant(s, 'bpftrace raw_syscalls @[probe]', 'tracepoint:raw_syscalls:sys_enter { @[probe] = count(); }'),
  ];
  const outcomes = measure(s, variants, (n) => [s.syscalls!, 'mixed', String(n), timing], MIXED_ITERATIONS, timing);
  printTable(title, outcomes, total, 'ns', 'seen counts every process’s syscalls, the tracer’s own included');
  const tstap = stats(outcomes[1]!);
  const bpftrace = stats(outcomes[2]!);
  const alone = stats(outcomes[0]!);
  if (tstap && bpftrace && alone) {
    const slow = tstap.workloadNs / alone.workloadNs;
    const versus = bpftrace.workloadNs / alone.workloadNs;
    goals([[`slowdown ${slow.toFixed(2)}x <= bpftrace's ${versus.toFixed(2)}x`, slow <= versus], noLossGoal(outcomes[1]!)]);
  }
}

// ---- tracers --------------------------------------------------------------------------------------

/** tstap running `script`, which counts into a global that tstap prints at the end; `seen` reads it back. */
function tstapVariant(s: Setup, name: string, script: string, seen: (stdout: string) => number): Variant {
  return {
    name,
    under: (w) => [...s.tstap, '-e', script, '-c', w.join(' ')],
    counts: ({ stdout, stderr }) => ({ seen: seen(stdout), ...tstapLosses(stderr) }),
  };
}

/** The value of a scalar global `n` as tstap prints it at the end (`n=123`). */
function scalarN(stdout: string): number {
  return Number(/^n=(\d+)$/m.exec(stdout)?.[1] ?? 0);
}

function bpftraceVariant(s: Setup, name: string, program: string): Variant {
  return {
    name,
    missing: s.noBpftrace,
    under: (w) => [s.bpftrace!, '-e', program, '-c', w.join(' ')],
    // In-kernel map counts: nothing can be lost between kernel and tracer, so no loss column.
    counts: ({ stdout }) => ({ seen: sumOf(/^@(?:\[[^\n]*\])?: (\d+)$/gm)(stdout) }),
  };
}

function sumOf(pattern: RegExp): (text: string) => number {
  return (text) => [...text.matchAll(pattern)].reduce((sum, m) => sum + Number(m[1]), 0);
}

/**
 * Losses tstap reported on stderr: the end-of-run summary (`WARNING: X of Y events lost in all ...`) when there
 * is one, else the per-CPU warnings summed; sub-buffers flagged lossy without a count make the number a floor.
 */
function tstapLosses(stderr: string): Pick<Counts, 'lost' | 'lostUncounted'> {
  const total = /^WARNING: (\d+) of \d+ events lost in all/m.exec(stderr);
  const lost = total ? Number(total[1]) : sumOf(/^WARNING: (\d+) events lost on cpu/gm)(stderr);
  return { lost, lostUncounted: /flagged missed events without a count|sub-buffers\)/.test(stderr) };
}

/** Samples perf wrote for `event` and the samples it reported lost, from `perf report --stats`. */
function perfCounts(perf: string, data: string, event: string): Counts {
  const r = spawnSync(perf, ['report', '-i', data, '--stats'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`perf report --stats: ${lastLine(r.stderr) || r.error?.message}`);
  const text = r.stdout + r.stderr;
  const at = text.indexOf(`${event} stats:`);
  // perf prints an event's own section only when it has samples (none on the empty workload).
  if (at < 0) return { seen: 0, lost: 0 };
  const section = text.slice(at);
  const seen = /SAMPLE events:\s+(\d+)/.exec(section);
  if (!seen) throw new Error(`perf report --stats printed no sample count for ${event}`);
  const lost = /LOST_SAMPLES events:\s+(\d+)/.exec(section);
  return { seen: Number(seen[1]), lost: lost ? Number(lost[1]) : 0 };
}

// ---- measuring ------------------------------------------------------------------------------------

/**
 * Runs every variant once per round, in turn (so that the machine's slow spells spread over all of them), on `n`
 * units of work, and each traced variant once more per round on none, for the tracer's fixed CPU cost. A variant
 * that fails is reported with its failure and not run again; the others go on.
 */
function measure(s: Setup, variants: Variant[], workload: (n: number) => string[], n: number, timing: string): Outcome[] {
  const outcomes: Outcome[] = variants.map((variant) => ({ variant, runs: [], empty: [], failure: variant.missing }));
  for (let round = 0; round < ROUNDS; round++) {
    for (const o of outcomes) {
      if (o.failure) continue;
      try {
        o.runs.push(runOnce(s, o.variant, workload(n), timing));
        if (o.variant.under) o.empty.push(runOnce(s, o.variant, workload(0), timing));
      } catch (err) {
        const message = firstLine((err as Error).message);
        o.failure = o.variant.explain ? o.variant.explain(message) : message;
      }
    }
  }
  return outcomes;
}

function runOnce(s: Setup, v: Variant, workload: string[], timing: string): Run {
  rmSync(timing, { force: true });
  if (!v.under) {
    const r = spawnSync(workload[0]!, workload.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], timeout: RUN_TIMEOUT_MS });
    if (r.status !== 0) throw new Error(`${workload.join(' ')}: ${r.error?.message ?? r.stderr.toString()}`);
    const [start, end] = numbers(timing, 2);
    return { workloadNs: end - start, startNs: start, exitNs: end, cpuNs: 0, tickNs: 0 };
  }
  const cpuFile = join(s.dir, 'cpu');
  rmSync(cpuFile, { force: true });
  const argv = [s.cpuOf!, cpuFile, ...v.under(workload)];
  const r = spawnSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: RUN_TIMEOUT_MS, killSignal: 'SIGTERM', maxBuffer: 64 << 20,
  });
  if (r.error) throw new Error(`${v.name}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(meaningfulLine(r.stderr) || `${v.name} exited with status ${r.status}`);
  const [start, end] = numbers(timing, 2);
  const [exit, user, system, tick] = numbers(cpuFile, 4);
  return { workloadNs: end - start, startNs: start, exitNs: exit, cpuNs: user + system, tickNs: tick, counts: v.counts?.(r) };
}

/** The first `count` integers of a file written by a fixture (CLOCK_MONOTONIC ns fit a double exactly). */
function numbers(file: string, count: number): number[] {
  if (!existsSync(file)) throw new Error(`the workload wrote no ${file}: did it run?`);
  const xs = readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
  if (xs.length < count || xs.some((x) => !Number.isFinite(x))) throw new Error(`unreadable ${file}`);
  return xs;
}

interface Stats {
  workloadNs: number;
  seen?: number;
  /** Events handled per second, from the workload's start to the tracer's exit (drain included). */
  handledPerSecond: number;
  cpuPerEventNs?: number;
  /** What one clock tick of CPU time is per event: smaller per-event CPU differences are not measurable. */
  cpuResolutionNs?: number;
}

function stats(o: Outcome): Stats | undefined {
  if (o.failure || o.runs.length === 0) return undefined;
  const workloadNs = median(o.runs.map((r) => r.workloadNs));
  if (!o.variant.under) return { workloadNs, handledPerSecond: 0 };
  const seen = median(o.runs.map((r) => r.counts?.seen ?? 0));
  const handledPerSecond = median(o.runs.map((r) => (r.counts?.seen ?? 0) / ((r.exitNs - r.startNs) / 1e9)));
  const fixed = o.empty.length ? median(o.empty.map((r) => r.cpuNs)) : undefined;
  const cpuPerEventNs = fixed === undefined || seen === 0 ? undefined : (median(o.runs.map((r) => r.cpuNs)) - fixed) / seen;
  const cpuResolutionNs = seen === 0 ? undefined : Math.max(...o.runs.map((r) => r.tickNs)) / seen;
  return { workloadNs, seen, handledPerSecond, cpuPerEventNs, cpuResolutionNs };
}

// ---- printing -------------------------------------------------------------------------------------

const COLUMNS: Array<[string, number]> = [
  ['', 34], ['workload', 9], ['x alone', 8], ['+/event', 9], ['seen', 9], ['handled/s', 10], ['lost, per run', 24],
  ['CPU/event', 9],
];

function printTable(title: string, outcomes: Outcome[], events: number, unit: 'ns' | 'µs', note?: string): void {
  console.log(`  ${title}`);
  row(COLUMNS.map(([name]) => name));
  const alone = stats(outcomes[0]!);
  for (const o of outcomes) {
    const st = stats(o);
    if (!st) {
      row([o.variant.name, `${o.variant.missing ? 'skipped' : 'failed'}: ${o.failure ?? 'no runs'}`]);
      continue;
    }
    const added = alone ? (st.workloadNs - alone.workloadNs) / events : undefined;
    const traced = Boolean(o.variant.under);
    const rate = traced ? st.handledPerSecond : events / (st.workloadNs / 1e9);
    row([
      o.variant.name,
      `${(st.workloadNs / 1e6).toFixed(0)} ms`,
      alone ? `${(st.workloadNs / alone.workloadNs).toFixed(2)}x` : '–',
      !traced || added === undefined ? '–' : unit === 'µs' ? `${(added / 1000).toFixed(2)} µs` : `${added.toFixed(0)} ns`,
      traced ? String(st.seen) : '–',
      `${(rate / 1e6).toFixed(2)}M`,
      traced ? lostColumn(o.runs) : '–',
      cpuColumn(st),
    ]);
  }
  if (note) console.log(`    (${note})`);
}

function cpuColumn(st: Stats): string {
  if (st.cpuPerEventNs === undefined) return '–';
  const resolution = st.cpuResolutionNs ?? 0;
  if (Math.abs(st.cpuPerEventNs) < resolution) return `<${Math.ceil(resolution)} ns`;
  return `${st.cpuPerEventNs.toFixed(0)} ns`;
}

function lostColumn(runs: Run[]): string {
  if (runs.every((r) => r.counts?.lost === undefined)) return '–';
  return runs.map((r) => `${r.counts?.lost === undefined ? '?' : count(r.counts.lost)}${r.counts?.lostUncounted ? '+?' : ''}`).join('/');
}

/** A count short enough for a table cell: exact below 10,000, else in k or M. */
function count(n: number): string {
  if (n < 10_000) return String(n);
  return n < 1e6 ? `${(n / 1e3).toFixed(0)}k` : `${(n / 1e6).toFixed(2)}M`;
}

function row(cells: string[]): void {
  const line = cells.map((c, i) => {
    const width = COLUMNS[i]?.[1] ?? 0;
    return i === 0 || i === cells.length - 1 && cells.length < COLUMNS.length ? c.padEnd(width) : c.padStart(width);
  });
  console.log(`    ${line.join(' ').trimEnd()}`);
}

function goals(items: Array<[string, boolean] | undefined>): void {
  const shown = items.filter((g): g is [string, boolean] => g !== undefined);
  if (shown.length) console.log(`    goals: ${shown.map(([text, met]) => `${text} ${met ? '(met)' : '(NOT met)'}`).join('; ')}`);
}

function noLossGoal(o: Outcome): [string, boolean] {
  const lossy = o.runs.filter((r) => (r.counts?.lost ?? 0) > 0 || r.counts?.lostUncounted).length;
  return [`no events lost (${lossy} of ${o.runs.length} runs lost some)`, lossy === 0];
}

function fixturesReady(s: Setup, title: string): boolean {
  if (!s.noFixtures) return true;
  console.log(`  ${title}: skipped: ${s.noFixtures}`);
  return false;
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]!.slice(0, 200);
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1)?.slice(0, 200) ?? '';
}

/** The line of a tracer's stderr that says what went wrong (bpftrace warns about RLIMIT_MEMLOCK on every run). */
function meaningfulLine(stderr: string): string {
  const lines = stderr.trim().split('\n').filter((l) => l && !/RLIMIT_MEMLOCK/.test(l));
  return (lines.find((l) => /error/i.test(l)) ?? lines[0] ?? '').slice(0, 200);
}

/** tstap instances and dynamic events in tracefs whose run (the pid in their name) is gone. */
function leftovers(): string[] {
  const dead = (name: string) => {
    const m = /^tstap_(\d+)_[0-9a-f]+$/.exec(name);
    return m !== null && !existsSync(`/proc/${m[1]}`);
  };
  const found: string[] = [];
  try {
    found.push(...readdirSync(join(TRACEFS, 'instances')).filter(dead).map((n) => `instances/${n}`));
  } catch {
    // no instances directory: nothing of ours can be there
  }
  try {
    for (const line of readFileSync(join(TRACEFS, 'dynamic_events'), 'utf8').split('\n')) {
      const group = /^[a-z]\d*:([^/\s]+)\//.exec(line)?.[1];
      if (group && dead(group)) found.push(line.split(' ')[0]!);
    }
  } catch {
    // no dynamic_events file on this kernel
  }
  return found;
}
