/**
 * Pass 2, the pass manager of elaboration: resolve (derive probes, bind names, pull library
 * files), add the globals display, infer types, analyse usage, report warnings.
 */
import type * as A from '../parser/ast.js';
import { SemanticError } from '../diagnostics/diagnostics.js';
import type { PreprocessorContext } from '../preprocessor/conditions.js';
import { Resolver } from './resolve.js';
import { Providers } from './providers.js';
import { SystemView } from './system.js';
import { TypeInference } from './infer-types.js';
import { analyseUsage } from './usage.js';
import { elideDeadAssignments, pruneUnreadFetches } from './elide.js';
import { finalizeEprobes } from './tracepoint-strings.js';
import { globalDisplayProbe } from './global-display.js';
import { suggest } from './suggest.js';
import type { Program } from './program.js';
import type { Library } from './library.js';
import { walkStmt } from './walk.js';
import { generateSyscallTapset, SYSCALL_HEADS } from './syscall-family.js';
import { parseSource } from '../parser/parse-source.js';
import { globMatch } from '../glob.js';
import { ParseError } from '../diagnostics/diagnostics.js';

export interface ElaborationResult { program: Program; warnings: SemanticError[] }

export interface ElaborateOptions {
  unoptimized: boolean;
  system?: SystemView;
  /** Keep alias locals nobody reads (for -L). */
  keepLocals?: boolean;
  /** --skip-badvars: context variables that cannot be resolved read as 0. */
  skipBadVars?: boolean;
  /** --no-global-var-display. */
  noGlobalVarDisplay?: boolean;
}

/**
 * Which syscall names the scripts' probe points can reach through the syscall family: undefined
 * when none can; a predicate on the syscall name otherwise.
 */
function syscallDemand(files: A.StapFile[]): ((name: string) => boolean) | undefined {
  const patterns: string[] = [];
  for (const f of files) {
    for (const d of f.decls) {
      // A user alias may stand for syscalls too: `probe io = syscall.{open,read} { }`.
      if (d.kind !== 'probe' && d.kind !== 'alias') continue;
      for (const p of d.points) {
        const [head, second] = p.components;
        const h = head!.name;
        if (h === '**' || h.includes('**')) return () => true;
        if (!SYSCALL_HEADS.some(x => globMatch(h, x))) continue;
        if (!second || second.name.includes('**')) return () => true;
        patterns.push(second.name);
      }
    }
  }
  return patterns.length ? name => patterns.some(p => globMatch(p, name)) : undefined;
}

const KERNEL_STACK_BUILTINS = new Set(['backtrace', 'print_backtrace', 'sprint_backtrace']);
const USER_STACK_BUILTINS = new Set(['ubacktrace', 'print_ubacktrace', 'sprint_ubacktrace']);

/** Probes that read the kernel or user stack, directly or through the functions they call. */
function markStackUsers(program: Program): void {
  const calls = (body: A.Stmt): { builtins: Set<string>; functions: Set<string> } => {
    const out = { builtins: new Set<string>(), functions: new Set<string>() };
    walkStmt(body, { expr: e => {
      if (e.kind !== 'call' || !e.target) return;
      if (e.target.kind === 'builtin') out.builtins.add(e.target.name);
      else out.functions.add(e.target.id);
    } });
    return out;
  };
  const fnCalls = new Map(program.functions.map(f => [f.id, f.decl.body.kind === 'block' ? calls(f.decl.body) : { builtins: new Set<string>(), functions: new Set<string>() }]));
  const users = (wanted: Set<string>): ((body: A.Stmt) => boolean) => {
    const fns = new Set<string>();
    for (let changed = true; changed;) {
      changed = false;
      for (const [id, c] of fnCalls) {
        if (fns.has(id)) continue;
        if ([...c.builtins].some(b => wanted.has(b)) || [...c.functions].some(f => fns.has(f))) { fns.add(id); changed = true; }
      }
    }
    return body => { const c = calls(body); return [...c.builtins].some(b => wanted.has(b)) || [...c.functions].some(f => fns.has(f)); };
  };
  const kernel = users(KERNEL_STACK_BUILTINS);
  const user = users(USER_STACK_BUILTINS);
  // A timer.profile sample knows where the CPU was (user_mode(), addr()) only from its kernel stack.
  const profile = users(new Set([...KERNEL_STACK_BUILTINS, 'user_mode', 'addr', 'uaddr']));
  const profileUser = users(new Set(['uaddr']));
  for (const p of program.probes) {
    const isProfile = p.point.kind === 'tracepoint' && p.point.profile === true;
    if (kernel(p.body) || (isProfile && profile(p.body))) p.wantsStack = true;
    if (isProfile && profileUser(p.body)) p.wantsUserStack = true;
    if (user(p.body)) p.wantsUserStack = true;
  }
}

export function elaborate(user: A.StapFile[], library: Library, ctx: PreprocessorContext, opts: ElaborateOptions): ElaborationResult {
  const system = opts.system ?? new SystemView(ctx.config);
  const demand = opts.unoptimized ? () => true : syscallDemand(user);
  if (demand) {
    // The syscall family is generated from this kernel's tracepoints, only as far as a script needs it.
    let text: string;
    try {
      text = generateSyscallTapset(system, demand);
    } catch (e) {
      throw new SemanticError(`cannot build the syscall probes from tracefs: ${(e as Error).message}`);
    }
    const parsed = parseSource({ name: '<generated syscall tapset>', text, guru: true }, { ...ctx, guru: true }, library.macros, true);
    if (parsed.errors.length) throw parsed.errors[0] instanceof ParseError ? new SemanticError(`generated syscall tapset: ${parsed.errors[0].message}`, parsed.errors[0].tok) : parsed.errors[0]!;
    library.addParsed(parsed.file!, SYSCALL_HEADS);
  }
  const resolver = new Resolver(user, library, new Providers(system, ctx.config, () => library.kernelDeclarations()), opts.unoptimized, system, opts.skipBadVars);
  resolver.run();
  const globals = resolver.allGlobals();
  const program: Program = {
    globals,
    functions: resolver.functions,
    probes: resolver.probes,
    libraryFiles: [...resolver.pulled].filter(f => f.library).map(f => f.file.name),
  };
  new TypeInference(program).run();
  markStackUsers(program);
  analyseUsage(program);
  const display = opts.noGlobalVarDisplay ? undefined : globalDisplayProbe(globals);
  if (display) {
    resolver.addSyntheticProbe(display);
    new TypeInference(program).run();
  }
  if (!opts.unoptimized && !opts.keepLocals) {
    elideDeadAssignments(program);
    pruneUnreadFetches(program);
  }
  finalizeEprobes(program.probes);
  const warnings: SemanticError[] = program.probes.flatMap(p => p.warnings ?? []);
  for (const p of program.probes) {
    for (const l of p.locals) {
      if (!l.assigned) {
        warnings.push(new SemanticError(`never-assigned local variable '${l.name}'${suggest(l.name, [...p.locals.map(x => x.name), ...globals.map(g => g.name)].filter(n => n !== l.name))}`, l.tok));
      }
      if (l.type === 'unknown') l.type = 'long';
    }
  }
  for (const f of program.functions) {
    for (const l of [...f.params, ...f.locals]) {
      if (!l.param && !l.assigned && !f.library) warnings.push(new SemanticError(`never-assigned local variable '${l.name}'`, l.tok));
      if (l.type === 'unknown') l.type = 'long';
    }
  }
  for (const g of globals) {
    if (g.type === 'unknown') {
      if (!g.read && !g.written) continue;
      throw new SemanticError(`unresolved type for global '${g.name}'`, g.tok);
    }
    g.keyTypes?.forEach((k, i) => {
      if (k === 'unknown') throw new SemanticError(`unresolved type of index ${i + 1} of array '${g.name}'`, g.tok);
    });
  }
  // Unused globals are elided, as in stap.
  program.globals = globals.filter(g => g.read || g.written || opts.unoptimized);
  const probes = program.probes.filter(p => p.point.kind !== 'never');
  if (probes.length === 0 && program.probes.length === 0) {
    throw new SemanticError('no probes found');
  }
  return { program, warnings };
}
