/**
 * Symbol resolution: derives every probe, binds every name to a global, a local, a function
 * or a builtin, pulls in the library files that define what the script reaches (whole files,
 * as stap does), and resolves context variables against the probe's event fields.
 */
import type * as A from '../parser/ast.js';
import { SemanticError } from '../diagnostics/diagnostics.js';
import { AliasIndex, Deriver, type Derivation } from './probe-points.js';
import { ppString, type Providers } from './providers.js';
import { cloneNode } from './clone.js';
import { walkExpr, walkStmt } from './walk.js';
import { builtinSignature, BUILTINS } from './builtins.js';
import { suggest } from './suggest.js';
import type { DerivedProbe, FunctionInfo, GlobalVar, LocalVar } from './program.js';
import { castConstantAddress, DYNAMIC_CALLS, lowerCast, lowerDynamicCall, lowerEntry, resolveDynamicVar } from './dynamic.js';
import { lowerTracepointString, STRING_CALLS } from './tracepoint-strings.js';
import { prettyVars } from './dynamic/pretty.js';
import { perThreadSlot, perThreadStore, syscallArgument, syscallEntryEvent, tracepointPoint } from './syscall-entry.js';
import type { SystemView } from './system.js';
import type { Library } from './library.js';

function jsName(prefix: string, name: string, n: number): string {
  return `${prefix}${name.replace(/[^A-Za-z0-9_]/g, '_')}${n ? '_' + n : ''}`;
}

interface Scope { locals: Map<string, LocalVar>; list: LocalVar[]; probe?: DerivedProbe; file: A.StapFile | undefined; inFunction: boolean }

export class Resolver {
  readonly globals = new Map<string, GlobalVar>();
  private readonly privateGlobals = new Map<string, GlobalVar>();
  readonly functions: FunctionInfo[] = [];
  private readonly functionsByDecl = new Map<A.FunctionDecl, FunctionInfo>();
  private readonly functionQueue: FunctionInfo[] = [];
  readonly probes: DerivedProbe[] = [];
  readonly pulled = new Set<A.StapFile>();
  private readonly aliases = new AliasIndex();
  private readonly deriver: Deriver;
  private readonly library: Library;
  private usedIds = new Set<string>();
  private probeCount = 0;
  private entryCount = 0;
  private readonly fileOfDecl = new Map<A.Decl, A.StapFile>();
  private readonly userSources: Set<A.StapFile['file']>;

  constructor(private readonly user: A.StapFile[], library: Library, providers: Providers, private readonly unoptimized: boolean,
    private readonly system: SystemView, private readonly skipBadVars = false) {
    this.library = library;
    this.userSources = new Set(user.map(f => f.file));
    for (const f of user) this.noteFile(f);
    // Library aliases join the index as derivation meets their first component.
    this.aliases.source = head => { for (const f of library.filesForAliasHead(head)) this.noteFile(f); };
    this.deriver = new Deriver(this.aliases, providers);
  }

  /** A file whose declarations may now be referred to: remember where each is, index its aliases. */
  private noteFile(f: A.StapFile): void {
    if (this.noted.has(f)) return;
    this.noted.add(f);
    for (const d of f.decls) {
      this.fileOfDecl.set(d, f);
      if (d.kind === 'alias') this.aliases.add(f, d);
    }
  }

  private readonly noted = new Set<A.StapFile>();

  /** Public and file-private globals together. */
  allGlobals(): GlobalVar[] {
    return [...this.globals.values(), ...this.privateGlobals.values()];
  }

  private uniqueId(prefix: string, name: string): string {
    let n = 0;
    let id = jsName(prefix, name, n);
    while (this.usedIds.has(id)) id = jsName(prefix, name, ++n);
    this.usedIds.add(id);
    return id;
  }

  run(): void {
    for (const f of this.user) this.pull(f);
    if (this.unoptimized) for (const f of this.library.parseAll()) { this.noteFile(f); this.pull(f); }
    while (this.functionQueue.length) this.bindFunction(this.functionQueue.shift()!);
  }

  /** Bring a file into the program: its globals, probes and (lazily) functions. */
  private pull(file: A.StapFile): void {
    if (this.pulled.has(file)) return;
    this.pulled.add(file);
    this.noteFile(file);
    for (const d of file.decls) if (d.kind === 'global') this.declareGlobal(d, file);
    for (const d of file.decls) if (d.kind === 'probe') this.deriveProbe(d, file);
    if (!file.library || this.unoptimized) for (const d of file.decls) if (d.kind === 'function') this.functionInfo(d, file);
  }

  private declareGlobal(d: A.GlobalDecl, file: A.StapFile): void {
    const key = d.private ? `${file.file.name}\0${d.name}` : d.name;
    const table = d.private ? this.privateGlobals : this.globals;
    const existing = table.get(key);
    if (existing) {
      if (existing.library === file.library) throw new SemanticError(`duplicate global variable '${d.name}'`, d.tok);
      return;
    }
    const g: GlobalVar = {
      scope: 'global', name: d.name, id: this.uniqueId('g_', d.name), type: 'unknown', isArray: d.maxSize !== undefined,
      maxSize: d.maxSize, wrap: d.wrap, init: d.init?.value, histograms: [], tok: d.tok, written: d.init !== undefined,
      read: false, library: file.library,
    };
    if (d.init) g.type = d.init.kind === 'num' ? 'long' : 'string';
    table.set(key, g);
  }

  /**
   * The global a name refers to where `tok` stands. Code from a library file (an alias body, a
   * tapset function) sees its own file's private globals and the library's globals, never the
   * user script's: `n = $n` in the generated `syscall.select` must not bind to a user's `global n`.
   */
  private findGlobal(name: string, tok: A.Expr['tok']): GlobalVar | undefined {
    const p = this.privateGlobals.get(`${tok.file.name}\0${name}`);
    if (p) return p;
    const fromLibrary = !this.userSources.has(tok.file);
    const g = this.globals.get(name);
    if (g && !(fromLibrary && !g.library)) return g;
    const lib = this.library.fileForGlobal(name);
    if (lib && !this.pulled.has(lib)) {
      this.pull(lib);
      const pulled = this.globals.get(name);
      return pulled && !(fromLibrary && !pulled.library) ? pulled : undefined;
    }
    return undefined;
  }

  private deriveProbe(d: A.ProbeDecl, file: A.StapFile): void {
    for (const pp of d.points) {
      const before = this.probes.length;
      this.derivePoint(d, pp, file);
      // `!`: a sufficient point that resolved ends the list.
      if (pp.sufficient && this.probes.length > before) break;
    }
  }

  private derivePoint(d: A.ProbeDecl, pp: A.ProbePoint, file: A.StapFile): void {
    let derivations: Derivation[];
    try {
      derivations = this.deriver.derive(pp);
    } catch (e) {
      if (e instanceof SemanticError && !e.message.startsWith('while resolving probe point')) {
        throw new SemanticError(`while resolving probe point: ${e.message}`, e.tok ?? pp.tok, e.chain);
      }
      throw e;
    }
    for (const der of derivations) {
      for (const f of der.files) this.pull(f);
      const userPp = ppString(pp.components);
      const body: A.Block = {
        kind: 'block',
        tok: d.body.tok,
        body: [...der.prologues.map(b => cloneNode(b)), cloneNode(d.body), ...der.epilogues.map(b => cloneNode(b))],
      };
      const probe: DerivedProbe = {
        id: `probe_${this.probeCount++}`,
        pp: der.concrete.pp,
        chain: [...der.chain, userPp].filter((x, i, a) => i === 0 || x !== a[i - 1]),
        alias: der.chain[der.chain.length - 1],
        point: der.concrete.point,
        fields: der.concrete.fields,
        body,
        locals: [],
        conditions: der.conditions.map(c => cloneNode(c)),
        tok: pp.tok,
        synthetic: false,
      };
      this.bindProbe(probe, file);
      this.probes.push(probe);
    }
  }

  /**
   * `@entry(expr)` in a syscall exit probe: a companion probe on the matching enter tracepoint
   * stores expr per thread in a synthetic wrap-around global, and the node becomes a read of it.
   */
  private syscallEntry(e: A.Entry, probe: DerivedProbe, scope: Scope): void {
    const event = syscallEntryEvent(probe)!;
    const name = `__tstap_entry_${this.entryCount++}`;
    const g: GlobalVar = {
      scope: 'global', name, id: this.uniqueId('g_', name), type: 'unknown', isArray: true, wrap: true, histograms: [],
      tok: e.tok, written: true, read: true, library: true,
    };
    this.globals.set(name, g);
    const [der] = this.deriver.derive(tracepointPoint(event, e.tok));
    if (!der) throw new SemanticError(`@entry: ${probe.pp} has no entry event ${event}`, e.tok);
    const companion: DerivedProbe = {
      id: `probe_${this.probeCount++}`, pp: der.concrete.pp, chain: [der.concrete.pp], point: der.concrete.point,
      fields: der.concrete.fields, body: { kind: 'block', tok: e.tok, body: [perThreadStore(name, cloneNode(e.operand), e.tok)] },
      locals: [], conditions: [], tok: e.tok, synthetic: true,
    };
    this.bindProbe(companion, scope.file);
    this.probes.push(companion);
    replaceNode(e, perThreadSlot(name, e.tok));
    this.bindOne(e, scope);
  }

  /** Register a synthetic probe (global auto-display) and bind it. */
  addSyntheticProbe(probe: DerivedProbe): void {
    probe.id = `probe_${this.probeCount++}`;
    this.bindProbe(probe, undefined);
    this.probes.push(probe);
  }

  private functionInfo(d: A.FunctionDecl, file: A.StapFile): FunctionInfo {
    let fi = this.functionsByDecl.get(d);
    if (fi) return fi;
    fi = {
      name: d.name, id: this.uniqueId('f_', d.name), decl: d, params: [], locals: [], returnType: d.returnType ?? 'unknown',
      library: file.library,
    };
    for (const p of d.params) {
      const lv: LocalVar = { scope: 'local', name: p.name, id: `l_${p.name.replace(/[^A-Za-z0-9_]/g, '_')}`, type: p.type ?? 'unknown', param: true, tok: p.tok, assigned: true };
      fi.params.push(lv);
    }
    this.functionsByDecl.set(d, fi);
    this.functions.push(fi);
    this.functionQueue.push(fi);
    return fi;
  }

  private bindFunction(fi: FunctionInfo): void {
    const file = this.fileOfDecl.get(fi.decl);
    if (fi.decl.body.kind === 'embedded') {
      throw new SemanticError(`function '${fi.name}' has an embedded-C body, which tstap cannot run (there is no kernel module); write it in the script language`, fi.decl.tok);
    }
    const scope: Scope = { locals: new Map(fi.params.map(p => [p.name, p])), list: fi.locals, file, inFunction: true };
    this.bindStmt(fi.decl.body, scope);
  }

  private bindProbe(p: DerivedProbe, file: A.StapFile | undefined): void {
    const scope: Scope = { locals: new Map(), list: p.locals, probe: p, file, inFunction: false };
    for (const c of p.conditions) this.bindExpr(c, { ...scope, locals: new Map(), list: [] });
    this.bindStmt(p.body, scope);
  }

  /** Resolve a call: script functions, then library functions (pulling their file), then builtins. */
  private resolveCall(e: A.Call, file: A.StapFile | undefined): void {
    const arity = e.args.length;
    const pick = (decls: { d: A.FunctionDecl; f: A.StapFile }[]) => {
      const fit = decls.filter(x => x.d.params.length === arity);
      if (!fit.length) return undefined;
      fit.sort((a, b) => Number((a.d.priority ?? (a.f.library ? 1n : 0n)) - (b.d.priority ?? (b.f.library ? 1n : 0n))));
      return fit[0];
    };
    const userDecls: { d: A.FunctionDecl; f: A.StapFile }[] = [];
    for (const f of this.user) for (const d of f.decls) if (d.kind === 'function' && d.name === e.name) userDecls.push({ d, f });
    // Private library functions are visible only inside their own file.
    if (file?.library) for (const d of file.decls) if (d.kind === 'function' && d.name === e.name) userDecls.push({ d, f: file });
    let chosen = pick(userDecls);
    if (!chosen) {
      const libFile = this.library.fileForFunction(e.name);
      if (libFile) {
        const libDecls = libFile.decls.filter((d): d is A.FunctionDecl => d.kind === 'function' && d.name === e.name).map(d => ({ d, f: libFile }));
        chosen = pick(libDecls);
        if (chosen) this.pull(libFile);
      }
    }
    if (chosen) {
      const fi = this.functionInfo(chosen.d, chosen.f);
      e.target = { kind: 'function', id: fi.id };
      return;
    }
    const b = builtinSignature(e.name);
    if (b) {
      const min = b.params.length - (b.optional ?? 0);
      if (arity < min || arity > b.params.length) {
        throw new SemanticError(`function '${e.name}' takes ${min === b.params.length ? min : `${min} to ${b.params.length}`} argument${b.params.length === 1 ? '' : 's'}, given ${arity}`, e.tok);
      }
      e.target = { kind: 'builtin', name: e.name };
      return;
    }
    const known = new Set<string>(Object.keys(BUILTINS));
    for (const f of this.user) for (const d of f.decls) if (d.kind === 'function') known.add(d.name);
    for (const n of this.library.functionNames()) known.add(n);
    const anyArity = userDecls.length > 0 || this.library.fileForFunction(e.name) !== undefined;
    if (anyArity) throw new SemanticError(`unresolved arity-${arity} function ${e.name}`, e.tok);
    throw new SemanticError(`unresolved function ${e.name}${suggest(e.name, known)}`, e.tok);
  }

  private local(scope: Scope, sym: A.Sym): LocalVar {
    let lv = scope.locals.get(sym.name);
    if (!lv) {
      lv = { scope: 'local', name: sym.name, id: `l_${sym.name.replace(/[^A-Za-z0-9_]/g, '_')}`, type: 'unknown', param: false, tok: sym.tok, assigned: false };
      scope.locals.set(sym.name, lv);
      scope.list.push(lv);
    }
    return lv;
  }

  /** A name used as an array or aggregate must be a global. */
  private globalArray(sym: A.Sym, arity: number, scope: Scope): GlobalVar {
    const g = this.findGlobal(sym.name, sym.tok);
    if (!g) {
      throw new SemanticError(`unresolved arity-${arity} global array ${sym.name}, missing global declaration?`, sym.tok);
    }
    sym.ref = g;
    return g;
  }

  /** Parameters first, then globals, then the probe's (or function's) locals. */
  private bindSym(sym: A.Sym, scope: Scope): void {
    const lv = scope.locals.get(sym.name);
    if (lv?.param) { sym.ref = lv; return; }
    sym.ref = this.findGlobal(sym.name, sym.tok) ?? lv ?? this.local(scope, sym);
  }

  private bindStmt(s: A.Stmt, scope: Scope): void {
    walkStmt(s, {
      stmt: st => {
        if (st.kind === 'foreach') {
          for (const k of st.keys) k.ref = this.local(scope, k);
          if (st.value) st.value.ref = this.local(scope, st.value);
          if (st.array.kind === 'sym') {
            const g = this.globalArray(st.array, st.keys.length, scope);
            g.isArray = true;
            g.read = true;
          }
          for (const k of st.keys) (k.ref as LocalVar).assigned = true;
          if (st.value) (st.value.ref as LocalVar).assigned = true;
        } else if (st.kind === 'try' && st.catchVar) {
          const lv = this.local(scope, st.catchVar);
          lv.assigned = true;
          st.catchVar.ref = lv;
        } else if (st.kind === 'if' && st.cond.kind === 'defined') {
          // `if (@defined($x)) ... else ...`: drop the branch that does not apply before resolving it.
          const keep = this.definedValue(st.cond, scope);
          const chosen: A.Stmt = (keep ? st.then : st.else) ?? { kind: 'null', tok: st.tok };
          st.cond = { kind: 'num', value: keep ? 1n : 0n, tok: st.cond.tok };
          st.then = keep ? chosen : { kind: 'null', tok: st.tok };
          st.else = keep ? undefined : chosen;
        } else if (st.kind === 'delete' && st.target.kind === 'sym') {
          this.bindSym(st.target, scope);
        }
      },
      expr: e => this.bindOne(e, scope),
    });
  }

  private bindExpr(e: A.Expr, scope: Scope): void {
    walkExpr(e, { expr: x => this.bindOne(x, scope) });
  }

  /** `@defined(x)`: 1 when x resolves here, else 0; decided at compile time. */
  private definedValue(e: A.Defined, scope: Scope): boolean {
    if (e.operand.kind === 'tvar') {
      try { this.resolveContextVar(e.operand, scope); return true; } catch { return false; }
    }
    return !(e.operand.kind === 'cast' || e.operand.kind === 'atvar');
  }

  private bindOne(e: A.Expr, scope: Scope): void {
    // `@defined(x) ? a : b` keeps only the branch that applies, before the other is resolved
    // (so `@choose_defined($field, 0)` works on events without the field).
    if (e.kind === 'ternary' && e.cond.kind === 'defined') {
      const chosen = this.definedValue(e.cond, scope) ? e.then : e.else;
      replaceNode(e, chosen);
      this.bindOne(e, scope);
      return;
    }
    switch (e.kind) {
      case 'sym':
        if (!e.ref) this.bindSym(e, scope);
        break;
      case 'index':
        if (e.base.kind === 'sym') {
          const g = e.base.ref?.scope === 'global' ? e.base.ref as GlobalVar : this.globalArray(e.base, e.indexes.length, scope);
          g.isArray = true;
        }
        break;
      case 'assign':
        refuseTargetWrite(e.left);
        if (e.op === '<<<') {
          const target = e.left.kind === 'index' ? e.left.base : e.left;
          if (target.kind === 'sym' && !target.ref) {
            const g = this.findGlobal(target.name, target.tok);
            if (!g) throw new SemanticError(`unresolved arity-${e.left.kind === 'index' ? e.left.indexes.length : 0} global array ${target.name}, missing global declaration?`, target.tok);
            target.ref = g;
          }
        }
        if (e.left.kind === 'sym' || e.left.kind === 'index') this.bindOne(e.left, scope);
        if (e.left.kind === 'index' && e.left.base.kind === 'sym') this.bindOne(e.left.base, scope);
        markWritten(e.left);
        break;
      case 'crement':
        refuseTargetWrite(e.operand);
        if (e.operand.kind === 'sym' || e.operand.kind === 'index') this.bindOne(e.operand, scope);
        markWritten(e.operand);
        break;
      case 'call':
        // stap's user_string(addr, err_msg) is user_string2: the message instead of an error on a fault.
        if (e.name === 'user_string' && e.args.length === 2) e.name = 'user_string2';
        if (scope.probe?.point.kind === 'tracepoint') {
          const arg = syscallArgument(scope.probe, e);
          if (arg) {
            replaceNode(e, arg);
            this.bindOne(e, scope);
            break;
          }
        }
        if (DYNAMIC_CALLS.has(e.name) && scope.probe && isDynamic(scope.probe)) {
          // kernel_string($p->name), register("ip"), addr(), ...: fetched by the probe in the kernel.
          const ref = lowerDynamicCall(scope.probe, e);
          if (ref) {
            Object.assign(e, { kind: 'tvar', name: `$${e.name}`, components: [], addressOf: false, ref, type: ref.kind === 'field' ? ref.type : 'long' });
            break;
          }
          if ((e as A.Expr).kind !== 'call') {
            this.bindOne(e, scope); // rewritten into another node: print_regs() into a printf
            break;
          }
        }
        if (STRING_CALLS.has(e.name) && scope.probe?.point.kind === 'tracepoint') {
          if (e.args[0]?.kind === 'tvar') this.resolveContextVar(e.args[0], scope);
          const ref = lowerTracepointString(scope.probe, e, this.system);
          if (ref) {
            Object.assign(e, { kind: 'tvar', name: `$${e.name}`, components: [], addressOf: false, ref, type: 'string' });
            break;
          }
        }
        this.resolveCall(e, scope.file);
        break;
      case 'tvar':
        try {
          this.resolveContextVar(e, scope);
        } catch (err) {
          // --skip-badvars: what cannot be found or fetched reads as 0.
          if (!this.skipBadVars || !(err instanceof SemanticError) || !/unable to find|cannot fetch/.test(err.message)) throw err;
          e.ref = { kind: 'const', value: 0n };
          e.type = 'long';
        }
        break;
      case 'defined': {
        const ok = this.definedValue(e, scope);
        Object.assign(e, { kind: 'num', value: ok ? 1n : 0n });
        (e as unknown as { operand?: unknown }).operand = undefined;
        break;
      }
      case 'entry':
        if (scope.probe && syscallEntryEvent(scope.probe)) {
          this.syscallEntry(e, scope.probe, scope);
          break;
        }
        if (!scope.probe || !isDynamic(scope.probe)) {
          throw new SemanticError('@entry is only available in return probes of kernel or user functions and of system calls', e.tok);
        }
        // Rewritten in place into its operand, every context read captured at the function's entry.
        lowerEntry(scope.probe, e);
        this.bindOne(e, scope);
        break;
      case 'cast': {
        // &@cast(0, "type")->member: an offset, known from the type alone (@offsetof, @cast_sizeof).
        const address = castConstantAddress(e, scope.probe);
        if (address !== undefined) {
          replaceNode(e, { kind: 'num', value: address, tok: e.tok, type: 'long' } as A.NumberLit);
          break;
        }
        if (scope.probe && isDynamic(scope.probe)) {
          const ref = lowerCast(scope.probe, e);
          Object.assign(e, { kind: 'tvar', name: '@cast', components: [], addressOf: false, ref, type: ref.kind === 'field' ? ref.type : 'long' });
          break;
        }
        throw new SemanticError('@cast reads memory, which only kernel and user function probes can fetch (an address such as &@cast(0, "type")->member works anywhere)', e.tok);
      }
      case 'atvar': case 'perf': case 'const': case 'register': case 'deref': case 'probewrite':
        throw new SemanticError(`${describeOperator(e)} is not supported by this build of tstap yet`, e.tok);
      case 'embedded-expr':
        throw new SemanticError('embedded-C expressions cannot run in tstap (there is no kernel module)', e.tok);
    }
  }

  private resolveContextVar(e: A.TargetVar, scope: Scope): void {
    if (e.ref) return;
    const probe = scope.probe;
    if (!probe) throw new SemanticError(`context variable '${e.name}' cannot be used in a function`, e.tok);
    if (isDynamic(probe)) {
      e.ref = resolveDynamicVar(probe, e);
      e.type = e.ref.kind === 'field' ? e.ref.type : e.ref.kind === 'pretty' ? 'string' : typeof e.ref.value === 'string' ? 'string' : 'long';
      return;
    }
    const fields = probe.fields;
    if (e.name === '$$vars' || e.name === '$$parms' || e.name === '$$locals') {
      e.ref = prettyVars(fields.map((f, index) => ({ name: f.name, index, type: f.type })));
      e.type = 'string';
      return;
    }
    const name = e.name.slice(1);
    const index = fields.findIndex(f => f.name === name);
    if (index < 0) {
      const alts = fields.map(f => '$' + f.name).join(' ');
      const kind = probe.point.kind === 'tracepoint' ? 'tracepoint variable' : 'context variable';
      throw new SemanticError(`unable to find ${kind} '${e.name}' in ${probe.pp}${alts ? ` (alternatives: ${alts})` : ''}`, e.tok);
    }
    if (e.components.some(c => c.kind !== 'pretty')) {
      throw new SemanticError(`'${e.name}' is a value of the event record here; '->' and '[]' need a dynamic probe with type information`, e.tok);
    }
    e.ref = { kind: 'field', index, type: fields[index]!.type };
    e.type = fields[index]!.type;
  }
}

/** Turns `target` into `source` in place, so that whatever holds `target` now holds `source`. */
function replaceNode(target: A.Expr, source: A.Expr): void {
  for (const k of Object.keys(target)) delete (target as unknown as Record<string, unknown>)[k];
  Object.assign(target, source);
}

function isDynamic(p: DerivedProbe): boolean {
  return p.point.kind === 'kprobe' || p.point.kind === 'uprobe';
}

/** `$var = x`, `$p->m++`: stap writes kernel or user memory from its module (guru mode); tracefs only reads. */
function refuseTargetWrite(target: A.Expr): void {
  if (target.kind !== 'tvar' && target.kind !== 'cast' && target.kind !== 'atvar') return;
  const name = target.kind === 'tvar' ? target.name : target.tok.text;
  throw new SemanticError(`writing to ${name} changes kernel or user memory, which needs stap's kernel module (guru mode); tstap only reads, through tracefs`, target.tok);
}

function markWritten(target: A.Expr): void {
  const sym = target.kind === 'index' && target.base.kind === 'sym' ? target.base : target.kind === 'sym' ? target : undefined;
  const ref = sym?.ref;
  if (ref?.scope === 'global') (ref as GlobalVar).written = true;
  else if (ref?.scope === 'local') (ref as LocalVar).assigned = true;
}

function describeOperator(e: A.Expr): string {
  return e.tok.text.startsWith('@') ? e.tok.text : e.kind;
}

