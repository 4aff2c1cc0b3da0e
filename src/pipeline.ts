/**
 * The pass manager: parse (1), elaborate (2), generate JavaScript and the probe plan (3),
 * load (4), run (5). Each pass lives in its own folder; this file only sequences them,
 * prints what `-pN` asks for and stap's per-pass `-v` lines.
 */
import { readFileSync } from 'node:fs';
import type { Options } from './options.js';
import { systemContext, type PreprocessorContext } from './preprocessor/conditions.js';
import { loadLibrary, builtinTapsetDir, LibraryError, type Library } from './elaborate/library.js';
import { parseSource } from './parser/parse-source.js';
import { printFile } from './parser/print.js';
import { formatParseError, formatSemanticError, SemanticError, type ParseError } from './diagnostics/diagnostics.js';
import { elaborate } from './elaborate/elaborate.js';
import { printProgram } from './elaborate/print-p2.js';
import { listProbes } from './elaborate/listing.js';
import type { Program } from './elaborate/program.js';
import { generate } from './codegen/emit.js';
import { printPlan, probeSpecs } from './codegen/plan.js';
import { Runtime, DEFAULT_LIMITS, type Limits, type EventSource } from './runtime/runtime.js';
import { createLiveSession, startCommand, LiveError } from './live/index.js';
import type { StapFile } from './parser/ast.js';

/** Timing and memory for stap's `-v` lines. */
class PassClock {
  private cpu = process.cpuUsage();
  private t0 = performance.now();
  restart(): void { this.cpu = process.cpuUsage(); this.t0 = performance.now(); }
  report(): string {
    const c = process.cpuUsage(this.cpu);
    const m = process.memoryUsage();
    const kb = (n: number) => Math.round(n / 1024);
    return `using ${kb(m.rss + m.external)}virt/${kb(m.rss)}res/0shr/${kb(m.heapUsed)}data kb, ` +
      `in ${Math.round(c.user / 1000)}usr/${Math.round(c.system / 1000)}sys/${Math.round(performance.now() - this.t0)}real ms.`;
  }
}

export interface Pass1Result { user: StapFile[]; library: Library; ctx: PreprocessorContext }

function readScript(opts: Options): { name: string; text: string }[] {
  const scripts: { name: string; text: string }[] = [];
  if (opts.scriptText !== undefined) scripts.push({ name: '<input>', text: opts.scriptText });
  else if (opts.scriptFile === '-') scripts.push({ name: '<input>', text: readFileSync(0, 'latin1') });
  else if (opts.scriptFile !== undefined) scripts.push({ name: opts.scriptFile, text: readFileSync(opts.scriptFile, 'latin1') });
  opts.extraScripts.forEach(text => scripts.push({ name: '<input>', text }));
  return scripts;
}

/** Pass 1. Returns undefined after printing the diagnostics when anything failed to parse. */
export function pass1(opts: Options, out: (s: string) => void): Pass1Result | undefined {
  const ctx = systemContext({ args: opts.args, guru: opts.guru, kernelRelease: opts.kernelRelease });
  const library = loadLibrary([...opts.includeDirs, builtinTapsetDir()], ctx);
  // `-p1 -v` dumps the whole library, so it parses it all (as stap does on every run); otherwise a
  // library file is parsed when the script reaches it, which keeps start-up fast.
  if (opts.lastPass === 1 && opts.verbose) library.parseAll();
  const errors: ParseError[] = [...library.errors];
  const user: StapFile[] = [];
  let scripts;
  try {
    scripts = readScript(opts);
  } catch {
    out(`Input file '${opts.scriptFile}' is missing.\n`);
    return undefined;
  }
  for (const s of scripts) {
    const parsed = parseSource({ name: s.name, text: s.text, guru: opts.guru }, ctx, library.macros, false);
    errors.push(...parsed.errors);
    if (parsed.file) user.push(parsed.file);
  }
  if (errors.length) {
    for (const e of errors) out(formatParseError(e));
    out(`\n${errors.length} parse error${errors.length === 1 ? '' : 's'}.\n`);
    out('Pass 1: parse failed.  [man error::pass1]\n');
    return undefined;
  }
  return { user, library, ctx };
}

export async function run(opts: Options): Promise<number> {
  const stdout = (s: string) => process.stdout.write(s);
  const stderr = (s: string) => process.stderr.write(s);
  const clock = new PassClock();
  const pattern = opts.listProbesWithVars ?? opts.listProbes;
  if (pattern !== undefined) return list(opts, pattern, stdout, stderr);
  const p1 = pass1(opts, stderr);
  if (!p1) return 1;
  if (opts.verbose) {
    stderr(`Pass 1: parsed user script and ${p1.library.count} library scripts ${clock.report()}\n`);
  }
  if (opts.lastPass === 1) {
    let dump = '# parse tree dump\n';
    for (const f of p1.user) dump += printFile(f);
    if (opts.verbose) for (const f of p1.library.files) dump += printFile(f);
    stdout(dump);
    return 0;
  }
  clock.restart();
  const program = pass2(opts, p1, stderr);
  if (!program) return 1;
  if (opts.verbose) {
    stderr(`Pass 2: analyzed script: ${program.probes.length} probe${program.probes.length === 1 ? '' : 's'}, ` +
      `${program.functions.length} function${program.functions.length === 1 ? '' : 's'}, 0 embeds, ` +
      `${program.globals.length} global${program.globals.length === 1 ? '' : 's'} ${clock.report()}\n`);
  }
  if (opts.lastPass === 2) {
    stdout(printProgram(program));
    return 0;
  }
  clock.restart();
  const source = generate(program);
  if (opts.verbose) stderr(`Pass 3: translated to JavaScript ${clock.report()}\n`);
  if (opts.lastPass === 3) {
    stdout(source + printPlan(program));
    return 0;
  }
  if (opts.lastPass === 4) {
    // There is no module to build: pass 4 is compiling the generated JavaScript.
    new Function('rt', source);
    if (opts.verbose) stderr(`Pass 4: compiled JavaScript ${clock.report()}\n`);
    return 0;
  }
  const limits = applyDefines(opts.defines, stderr);
  if (!limits) return 1;
  if (opts.suppressTimeLimits) limits.MAXACTION = limits.MAXACTION_INTERRUPTIBLE = Number.MAX_SAFE_INTEGER;
  clock.restart();
  let events: EventSource | undefined;
  try {
    events = createLiveSession(program, { bufferMB: opts.bufferMB, verbose: opts.verbose });
    const rt = new Runtime(probeSpecs(program), {
      limits, outputFile: opts.outputFile, targetPid: opts.targetPid, command: opts.command,
      timeoutSeconds: opts.timeoutSeconds, globalsInit: opts.globalsInit, hz: kernelHz(p1.ctx),
      source: events, startCommand, suppressHandlerErrors: opts.suppressHandlerErrors,
    });
    const status = await rt.run(source);
    if (opts.verbose) stderr(`Pass 5: run completed ${clock.report()}\n`);
    return status;
  } catch (e) {
    if (!(e instanceof LiveError)) throw e;
    events?.close();
    stderr(`ERROR: ${e.message}\n`);
    stderr('Pass 5: run failed.  [man error::pass5]\n');
    return 1;
  }
}

/** -l / -L: exit status 0 when something matched. */
function list(opts: Options, pattern: string, stdout: (s: string) => void, stderr: (s: string) => void): number {
  const ctx = systemContext({ args: opts.args, guru: opts.guru, kernelRelease: opts.kernelRelease });
  const library = loadLibrary([...opts.includeDirs, builtinTapsetDir()], ctx);
  if (library.errors.length) {
    for (const e of library.errors) stderr(formatParseError(e));
    return 1;
  }
  try {
    const lines = listProbes(pattern, opts.listProbesWithVars !== undefined, library, ctx);
    if (lines.length) stdout(lines.join('\n') + '\n');
    return lines.length ? 0 : 1;
  } catch (e) {
    if (e instanceof LibraryError) {
      for (const err of e.errors) stderr(formatParseError(err));
      return 1;
    }
    if (e instanceof SemanticError) {
      if (opts.verbose) stderr(formatSemanticError(e));
      return 1;
    }
    if ((e as ParseError).tok !== undefined || e instanceof Error && e.constructor.name === 'ParseError') {
      stderr(formatParseError(e as ParseError));
      return 1;
    }
    throw e;
  }
}

function kernelHz(ctx: PreprocessorContext): number {
  const hz = Number(ctx.config().get('CONFIG_HZ'));
  return Number.isInteger(hz) && hz > 0 ? hz : 250;
}

/** -D NAME=VALUE overrides of the runtime limits. */
function applyDefines(defines: Map<string, string>, out: (s: string) => void): Limits | undefined {
  const limits: Limits = { ...DEFAULT_LIMITS };
  const explicit = new Set<string>();
  for (const [name, value] of defines) {
    if (!(name in limits)) { out(`WARNING: -D ${name}: not a limit tstap knows; ignored\n`); continue; }
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) { out(`ERROR: -D ${name}=${value}: expected a non-negative integer\n`); return undefined; }
    (limits as unknown as Record<string, number>)[name] = n;
    explicit.add(name);
  }
  if (explicit.has('MAXACTION') && !explicit.has('MAXACTION_INTERRUPTIBLE')) limits.MAXACTION_INTERRUPTIBLE = limits.MAXACTION * 10;
  return limits;
}

/** Pass 2. Returns undefined after printing the diagnostics when elaboration failed. */
export function pass2(opts: Options, p1: Pass1Result, out: (s: string) => void): Program | undefined {
  try {
    const { program, warnings } = elaborate(p1.user, p1.library, p1.ctx, {
      unoptimized: opts.unoptimized, skipBadVars: opts.skipBadVars, noGlobalVarDisplay: opts.noGlobalVarDisplay,
    });
    if (!opts.suppressWarnings) for (const w of warnings) out(formatSemanticError(w, 'WARNING'));
    if (opts.warningsAsErrors && warnings.length) {
      out('Pass 2: analysis failed.  [man error::pass2]\n');
      return undefined;
    }
    return program;
  } catch (e) {
    if (e instanceof LibraryError) {
      // A library file the script reached does not parse: report it against that file.
      for (const err of e.errors) out(formatParseError(err));
      out(`\n${e.errors.length} parse error${e.errors.length === 1 ? '' : 's'}.\n`);
      out('Pass 2: analysis failed.  [man error::pass2]\n');
      return undefined;
    }
    if (!(e instanceof SemanticError)) throw e;
    out(formatSemanticError(e));
    out('Pass 2: analysis failed.  [man error::pass2]\n');
    return undefined;
  }
}
