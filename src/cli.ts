/**
 * The `tstap` command line: stap's options, parsed with commander, handed to the pass manager.
 */
import { Command, Option } from 'commander';
import type { Options } from './options.js';
import { run } from './pipeline.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseDefine(list: string[], what: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const item of list) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid ${what} '${item}'`);
    m.set(name, eq < 0 ? '' : item.slice(eq + 1));
  }
  return m;
}

export function parseCommandLine(argv: string[]): Options {
  const program = new Command('tstap')
    .description('Run SystemTap scripts over tracefs')
    .usage('[options] FILE [ARGS ...]  |  [options] -e SCRIPT [ARGS ...]')
    .argument('[args...]')
    .addOption(new Option('-p <num>', 'stop after pass NUM (1-5)').argParser(v => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 5) throw new Error(`Invalid pass number '${v}' (should be 1-5).`);
      return n;
    }))
    .option('-e <script>', 'run the given script')
    .option('-E <script>', 'add a script (repeatable)', collect, [])
    .option('-v', 'more verbose (repeatable)', (_v: string, prev: number) => prev + 1, 0)
    .option('-g', 'guru mode: allow embedded C')
    .option('-I <dir>', 'add a tapset directory (repeatable)', collect, [])
    .option('-D <name=value>', 'override a runtime limit (repeatable)', collect, [])
    .option('-G <var=value>', 'set a global at start (repeatable)', collect, [])
    .option('-c <command>', 'run COMMAND once every probe is armed; exit when it exits')
    .option('-x <pid>', 'set target() to PID')
    .option('-o <file>', 'send output to FILE')
    .option('-s <mb>', 'ring buffer size per CPU in MB')
    .option('-T <seconds>', 'exit after SECONDS')
    .option('-u', 'do not elide unused code')
    .option('-w', 'suppress warnings')
    .option('-W', 'treat warnings as errors')
    .option('-l <probe>', 'list matching probe points')
    .option('-L <probe>', 'list matching probe points with their variables')
    .option('-r <release>', 'kernel release to preprocess for')
    .option('--skip-badvars', 'read context variables that cannot be resolved as 0')
    .option('--suppress-handler-errors', 'end only the failing handler on a runtime error, silently')
    .option('--suppress-time-limits', 'no MAXACTION limit on a handler')
    .option('--no-global-var-display', 'do not print globals written but never read at the end')
    // stap needs these to load symbol and unwind data into its module; tstap reads /proc/kallsyms and
    // each process's ELF files when it needs them, so they change nothing.
    .option('-d <object>', 'accepted for compatibility (symbols are read on demand)', collect, [])
    .option('--ldd', 'accepted for compatibility (symbols are read on demand)')
    .option('--all-modules', 'accepted for compatibility (symbols are read on demand)')
    .helpOption('-h, --help', 'show this help')
    .exitOverride()
    .configureOutput({ writeErr: s => process.stderr.write(s) });
  program.parse(argv, { from: 'user' });
  const o = program.opts();
  const positional = program.args as string[];
  const opts: Options = {
    scriptText: o.e,
    extraScripts: o.E,
    args: [],
    lastPass: o.p ?? 5,
    verbose: o.v,
    guru: !!o.g,
    includeDirs: o.I,
    defines: parseDefine(o.D, 'define'),
    globalsInit: parseDefine(o.G, 'global'),
    command: o.c,
    targetPid: o.x !== undefined ? Number(o.x) : undefined,
    outputFile: o.o,
    bufferMB: o.s !== undefined ? Number(o.s) : undefined,
    timeoutSeconds: o.T !== undefined ? Number(o.T) : undefined,
    unoptimized: !!o.u,
    suppressWarnings: !!o.w,
    warningsAsErrors: !!o.W,
    listProbes: o.l,
    listProbesWithVars: o.L,
    kernelRelease: o.r,
    skipBadVars: !!o.skipBadvars,
    suppressHandlerErrors: !!o.suppressHandlerErrors,
    suppressTimeLimits: !!o.suppressTimeLimits,
    noGlobalVarDisplay: o.globalVarDisplay === false,
  };
  if (opts.listProbes || opts.listProbesWithVars) {
    opts.args = positional;
  } else if (opts.scriptText === undefined) {
    if (positional.length === 0) throw new Error('A script must be specified.');
    opts.scriptFile = positional[0];
    opts.args = positional.slice(1);
  } else {
    opts.args = positional;
  }
  if (opts.targetPid !== undefined && !(Number.isInteger(opts.targetPid) && opts.targetPid > 0)) throw new Error(`invalid pid '${o.x}'`);
  return opts;
}

async function main(): Promise<void> {
  let opts: Options;
  try {
    opts = parseCommandLine(process.argv.slice(2));
  } catch (e) {
    const err = e as { code?: string; exitCode?: number; message?: string };
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') process.exit(0);
    if (!err.code?.startsWith('commander.')) process.stderr.write(`tstap: ${err.message}\n`);
    process.exit(1);
  }
  process.exitCode = await run(opts);
}

main().catch(e => {
  // TSTAP_DEBUG=1 shows where our own code failed; users get one line, never a stack trace.
  const detail = process.env.TSTAP_DEBUG && e instanceof Error ? e.stack : e instanceof Error ? e.message : String(e);
  process.stderr.write(`tstap: internal error: ${detail}\n`);
  process.exitCode = 1;
});
