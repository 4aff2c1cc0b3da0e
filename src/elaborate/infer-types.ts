/**
 * Type inference over the whole program: long, string and stats for every expression,
 * variable, array key, function parameter and return value, iterated to a fixed point
 * across probes and functions as stap does. Conflicts are stap's `type mismatch` errors.
 */
import type * as A from '../parser/ast.js';
import { SemanticError } from '../diagnostics/diagnostics.js';
import { argTypes, parseFormat } from '../runtime/format.js';
import { cUnescape } from '../parser/escapes.js';
import { builtinSignature } from './builtins.js';
import type { FunctionInfo, GlobalVar, Program, Type } from './program.js';

type Holder = { type: Type };

export class TypeInference {
  private changed = false;
  private readonly fnById = new Map<string, FunctionInfo>();
  private currentFunction?: FunctionInfo;

  constructor(private readonly program: Program) {
    for (const f of program.functions) this.fnById.set(f.id, f);
  }

  run(): void {
    for (let round = 0; round < 100; round++) {
      this.changed = false;
      for (const p of this.program.probes) {
        this.currentFunction = undefined;
        for (const c of p.conditions) this.expect(c, 'long');
        this.stmt(p.body);
      }
      for (const f of this.program.functions) {
        this.currentFunction = f;
        if (f.decl.body.kind === 'block') this.stmt(f.decl.body);
      }
      if (!this.changed) break;
    }
  }

  private set(h: Holder, t: Type, tok: A.Expr['tok'] | undefined): void {
    if (t === 'unknown' || h.type === t) return;
    if (h.type === 'unknown') { h.type = t; this.changed = true; return; }
    throw new SemanticError(`type mismatch: expected ${h.type} but found ${t}`, tok);
  }

  /** Infer `e` and require type `t`, pushing `t` into whatever `e` stands for when still unknown. */
  private expect(e: A.Expr, t: Type): void {
    const got = this.expr(e);
    if (got === t) return;
    if (got !== 'unknown') {
      throw new SemanticError(`type mismatch: expected ${t} but found ${got}`, e.tok);
    }
    this.push(e, t);
  }

  private push(e: A.Expr, t: Type): void {
    switch (e.kind) {
      case 'sym': if (e.ref && !(e.ref as GlobalVar).isArray) this.set(e.ref, t, e.tok); break;
      case 'index': if (e.base.kind === 'sym' && e.base.ref) this.set(e.base.ref, t, e.tok); break;
      case 'call':
        if (e.target?.kind === 'function') {
          const fi = this.fnById.get(e.target.id)!;
          const holder = { type: fi.returnType };
          this.set(holder, t, e.tok);
          fi.returnType = holder.type;
        }
        break;
      case 'ternary': this.push(e.then, t); this.push(e.else, t); break;
      case 'assign': this.push(e.left, t); this.push(e.right, t); break;
    }
    if (e.type === 'unknown' || e.type === undefined) e.type = t;
  }

  private keys(g: GlobalVar, indexes: (A.Expr | null)[], tok: A.Expr['tok']): void {
    if (!g.keyTypes) { g.keyTypes = indexes.map(() => 'unknown' as Type); this.changed = true; }
    if (g.keyTypes.length !== indexes.length) {
      throw new SemanticError(`inconsistent arity (${g.keyTypes.length} vs ${indexes.length}) for array ${g.name}`, tok);
    }
    indexes.forEach((ix, i) => {
      if (!ix) return;
      const t = this.expr(ix);
      const holder = { type: g.keyTypes![i]! };
      if (t === 'stats') throw new SemanticError('type mismatch: a statistic cannot be an array index', ix.tok);
      if (t === 'unknown' && holder.type !== 'unknown') this.push(ix, holder.type);
      else this.set(holder, t, ix.tok);
      if (holder.type !== g.keyTypes![i]) { g.keyTypes![i] = holder.type; this.changed = true; }
    });
  }

  private stmt(s: A.Stmt): void {
    switch (s.kind) {
      case 'block': s.body.forEach(b => this.stmt(b)); break;
      case 'expr': this.expr(s.expr); break;
      case 'if': this.expect(s.cond, 'long'); this.stmt(s.then); if (s.else) this.stmt(s.else); break;
      case 'while': this.expect(s.cond, 'long'); this.stmt(s.body); break;
      case 'for':
        if (s.init) this.expr(s.init);
        this.expect(s.cond, 'long');
        if (s.incr) this.expr(s.incr);
        this.stmt(s.body);
        break;
      case 'foreach': {
        if (s.array.kind === 'hist') {
          this.expr(s.array);
          if (s.keys.length !== 1) throw new SemanticError('a histogram has one index', s.tok);
          this.set(s.keys[0]!.ref!, 'long', s.keys[0]!.tok);
          if (s.value) this.set(s.value.ref!, 'long', s.value.tok);
        } else {
          const g = s.array.ref as GlobalVar;
          this.keys(g, s.keys, s.tok);
          s.keys.forEach((k, i) => {
            const kt = g.keyTypes![i]!;
            this.set(k.ref!, kt, k.tok);
            if (k.ref!.type !== 'unknown' && kt === 'unknown') { g.keyTypes![i] = k.ref!.type; this.changed = true; }
            k.type = k.ref!.type;
          });
          if (s.value) {
            if (g.type === 'stats') throw new SemanticError('cannot bind the value of a statistics array; use @count(a[k]) etc.', s.value.tok);
            this.set(s.value.ref!, g.type, s.value.tok);
            if (g.type === 'unknown' && s.value.ref!.type !== 'unknown') { g.type = s.value.ref!.type; this.changed = true; }
          }
          if (s.slice) this.keys(g, s.slice, s.tok);
          if (s.sortAggregate && g.type !== 'stats' && g.type !== 'unknown') {
            throw new SemanticError(`@${s.sortAggregate} sorting needs a statistics array`, s.tok);
          }
        }
        if (s.limit) this.expect(s.limit, 'long');
        this.stmt(s.body);
        break;
      }
      case 'return':
        if (!this.currentFunction) throw new SemanticError('return outside of a function', s.tok);
        if (s.value) {
          const t = this.expr(s.value);
          const fi = this.currentFunction;
          if (t === 'stats') throw new SemanticError('a function cannot return a statistic', s.value.tok);
          if (t === 'unknown' && fi.returnType !== 'unknown') this.push(s.value, fi.returnType);
          else if (t !== 'unknown') {
            if (fi.returnType === 'unknown') { fi.returnType = t; this.changed = true; }
            else if (fi.returnType !== t) throw new SemanticError(`type mismatch: expected ${fi.returnType} but found ${t}`, s.value.tok);
          }
        }
        break;
      case 'delete':
        if (s.target.kind !== 'sym' && s.target.kind !== 'index') throw new SemanticError('delete needs a variable, an array or an array element', s.target.tok);
        if (s.target.kind !== 'sym') this.expr(s.target);
        break;
      case 'try':
        this.stmt(s.body);
        if (s.catchVar) this.set(s.catchVar.ref!, 'string', s.catchVar.tok);
        this.stmt(s.handler);
        break;
    }
  }

  private expr(e: A.Expr): Type {
    const t = this.inferExpr(e);
    if (t !== 'unknown') e.type = t;
    return e.type ?? 'unknown';
  }

  private inferExpr(e: A.Expr): Type {
    switch (e.kind) {
      case 'num': return 'long';
      case 'str': return 'string';
      case 'sym': {
        const ref = e.ref!;
        if (ref.scope === 'global' && (ref as GlobalVar).isArray) {
          throw new SemanticError(`array '${e.name}' used as a scalar`, e.tok);
        }
        return ref.type;
      }
      case 'index': {
        if (e.base.kind === 'hist') {
          this.expr(e.base);
          if (e.indexes.length !== 1 || !e.indexes[0]) throw new SemanticError('a histogram bucket takes one index', e.tok);
          this.expect(e.indexes[0], 'long');
          return 'long';
        }
        const g = e.base.ref as GlobalVar;
        this.keys(g, e.indexes, e.tok);
        return g.type;
      }
      case 'call': {
        if (e.target?.kind === 'function') {
          const fi = this.fnById.get(e.target.id)!;
          e.args.forEach((a, i) => {
            const p = fi.params[i]!;
            const t = this.expr(a);
            if (t === 'stats') throw new SemanticError('a statistic cannot be passed to a function', a.tok);
            if (t === 'unknown' && p.type !== 'unknown') this.push(a, p.type);
            else this.set(p, t, a.tok);
          });
          return fi.returnType;
        }
        const sig = builtinSignature(e.name)!;
        e.args.forEach((a, i) => this.expect(a, sig.params[i]!));
        return sig.ret;
      }
      case 'print': {
        if (e.hist) this.expr(e.hist);
        if (e.format !== undefined) {
          const spec = parseFormat(cUnescape(e.format));
          if ('error' in spec) throw new SemanticError(spec.error, e.formatTok ?? e.tok);
          const types = argTypes(spec);
          if (types.length !== e.args.length) {
            throw new SemanticError('Wrong number of args to formatted print operator', e.tok);
          }
          e.args.forEach((a, i) => this.expect(a, types[i]!));
        } else {
          for (const a of e.args) {
            const t = this.expr(a);
            if (t === 'stats') throw new SemanticError('a statistic cannot be printed directly; use @count, @sum, ... or @hist_*', a.tok);
          }
        }
        return e.fn.startsWith('s') ? 'string' : 'unknown';
      }
      case 'tvar': return e.type ?? 'unknown';
      case 'stat': {
        const g = this.expectStats(e.operand);
        if (g && e.op === 'variance') {
          const shift = Number(e.shift ?? 0n);
          if (g.varianceShift !== undefined && g.varianceShift !== shift) {
            throw new SemanticError(`@variance of '${g.name}' is used with two different shifts`, e.tok);
          }
          g.varianceShift = shift;
        }
        return 'long';
      }
      case 'hist': {
        const g = this.expectStats(e.operand);
        if (g && !g.histograms.some(h => h.htype === e.htype && h.params.join() === e.params.join())) {
          g.histograms.push({ htype: e.htype, params: e.params });
        }
        if (e.htype === 'linear') {
          const [start, stop, interval] = e.params as [bigint, bigint, bigint];
          if (interval <= 0n) throw new SemanticError('histogram interval must be positive', e.tok);
          if (stop <= start) throw new SemanticError('histogram stop must be greater than start', e.tok);
        }
        return 'unknown';
      }
      case 'unary': this.expect(e.operand, 'long'); return 'long';
      case 'binary': this.expect(e.left, 'long'); this.expect(e.right, 'long'); return 'long';
      case 'logical': this.expect(e.left, 'long'); this.expect(e.right, 'long'); return 'long';
      case 'compare': {
        const lt = this.expr(e.left);
        const rt = this.expr(e.right);
        if (lt === 'stats' || rt === 'stats') throw new SemanticError('a statistic cannot be compared', e.tok);
        if (lt === 'unknown' && rt !== 'unknown') this.push(e.left, rt);
        else if (rt === 'unknown' && lt !== 'unknown') this.push(e.right, lt);
        else if (lt !== rt) throw new SemanticError(`type mismatch: expected ${lt} but found ${rt}`, e.right.tok);
        return 'long';
      }
      case 'concat': this.expect(e.left, 'string'); this.expect(e.right, 'string'); return 'string';
      case 'regex': this.expect(e.left, 'string'); return 'long';
      case 'ternary': {
        this.expect(e.cond, 'long');
        const a = this.expr(e.then);
        const b = this.expr(e.else);
        if (a === 'unknown' && b !== 'unknown') { this.push(e.then, b); return b; }
        if (b === 'unknown' && a !== 'unknown') { this.push(e.else, a); return a; }
        if (a !== b) throw new SemanticError(`type mismatch: expected ${a} but found ${b}`, e.else.tok);
        return a;
      }
      case 'in': {
        const t = e.target;
        if (t.base.kind === 'sym') this.keys(t.base.ref as GlobalVar, t.indexes, t.tok);
        return 'long';
      }
      case 'assign': return this.assign(e);
      case 'crement':
        if (e.operand.kind !== 'sym' && e.operand.kind !== 'index') throw new SemanticError(`${e.op} needs a variable or an array element`, e.operand.tok);
        this.expect(e.operand, 'long');
        return 'long';
      default: return 'unknown';
    }
  }

  private expectStats(operand: A.Expr): GlobalVar | undefined {
    const sym = operand.kind === 'index' ? operand.base : operand;
    if (operand.kind === 'index') this.expr(operand);
    if (sym.kind !== 'sym' || sym.ref?.scope !== 'global') throw new SemanticError('expected a global statistic', operand.tok);
    const g = sym.ref as GlobalVar;
    this.set(g, 'stats', operand.tok);
    return g;
  }

  private assign(e: A.Assign): Type {
    if (e.op === '<<<') {
      const target = e.left.kind === 'index' ? e.left.base : e.left;
      if (target.kind !== 'sym' || target.ref?.scope !== 'global') throw new SemanticError('the left side of <<< must be a global', e.left.tok);
      if (e.left.kind === 'index') this.keys(target.ref as GlobalVar, e.left.indexes, e.left.tok);
      this.set(target.ref, 'stats', e.tok);
      this.expect(e.right, 'long');
      return 'long';
    }
    if (e.left.kind !== 'sym' && e.left.kind !== 'index' && e.left.kind !== 'tvar') {
      throw new SemanticError('the left side of an assignment must be a variable or an array element', e.left.tok);
    }
    if (e.op === '.=') { this.expect(e.left, 'string'); this.expect(e.right, 'string'); return 'string'; }
    if (e.op !== '=') { this.expect(e.left, 'long'); this.expect(e.right, 'long'); return 'long'; }
    const rt = this.expr(e.right);
    const lt = this.expr(e.left);
    if (rt === 'stats' || lt === 'stats') throw new SemanticError('a statistic can only be added to with <<<', e.tok);
    if (lt === 'unknown' && rt !== 'unknown') { this.push(e.left, rt); return rt; }
    if (rt === 'unknown' && lt !== 'unknown') { this.push(e.right, lt); return lt; }
    if (lt !== rt) throw new SemanticError(`type mismatch: expected ${lt} but found ${rt}`, e.right.tok);
    return lt;
  }
}
