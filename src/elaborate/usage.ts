/**
 * Which variables are read and which are written, for stap's warnings (never-assigned locals)
 * and the end-of-run display of globals that are written but never read.
 */
import type * as A from '../parser/ast.js';
import { children } from './walk.js';
import type { GlobalVar, LocalVar, Program } from './program.js';

function symOf(e: A.Expr): A.Sym | undefined {
  if (e.kind === 'sym') return e;
  if (e.kind === 'index' && e.base.kind === 'sym') return e.base;
  return undefined;
}

function mark(sym: A.Sym | undefined, how: 'read' | 'write'): void {
  const ref = sym?.ref;
  if (!ref) return;
  if (ref.scope === 'global') {
    if (how === 'read') (ref as GlobalVar).read = true;
    else (ref as GlobalVar).written = true;
  } else if (how === 'write') (ref as LocalVar).assigned = true;
  else (ref as LocalVar).read = true;
}

function expr(e: A.Expr, lvalue = false): void {
  switch (e.kind) {
    case 'sym': mark(e, lvalue ? 'write' : 'read'); return;
    case 'index':
      if (e.base.kind === 'sym') mark(e.base, lvalue ? 'write' : 'read'); else expr(e.base);
      e.indexes.forEach(i => i && expr(i));
      return;
    case 'assign':
      expr(e.left, true);
      if (e.op !== '=' && e.op !== '<<<' && symOf(e.left)?.ref?.scope === 'local') mark(symOf(e.left), 'read');
      expr(e.right);
      return;
    case 'crement':
      expr(e.operand, true);
      return;
  }
  for (const c of children(e)) expr(c);
}

function stmt(s: A.Stmt): void {
  switch (s.kind) {
    case 'block': s.body.forEach(stmt); return;
    case 'expr': expr(s.expr); return;
    case 'if': expr(s.cond); stmt(s.then); if (s.else) stmt(s.else); return;
    case 'while': expr(s.cond); stmt(s.body); return;
    case 'for': if (s.init) expr(s.init); expr(s.cond); if (s.incr) expr(s.incr); stmt(s.body); return;
    case 'foreach':
      s.keys.forEach(k => mark(k, 'write'));
      if (s.value) mark(s.value, 'write');
      if (s.array.kind === 'sym') mark(s.array, 'read'); else expr(s.array);
      s.slice?.forEach(i => i && expr(i));
      if (s.limit) expr(s.limit);
      stmt(s.body);
      return;
    case 'return': if (s.value) expr(s.value); return;
    case 'delete': expr(s.target, true); return;
    case 'try': stmt(s.body); if (s.catchVar) mark(s.catchVar, 'write'); stmt(s.handler); return;
  }
}

export function analyseUsage(program: Program): void {
  for (const p of program.probes) for (const l of p.locals) { l.read = false; l.assigned = false; }
  for (const f of program.functions) { for (const l of f.params) l.read = false; for (const l of f.locals) { l.read = false; l.assigned = false; } }
  for (const p of program.probes) {
    p.conditions.forEach(c => expr(c));
    stmt(p.body);
  }
  for (const f of program.functions) if (f.decl.body.kind === 'block') stmt(f.decl.body);
}
