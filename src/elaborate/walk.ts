/** Generic traversal of statements and expressions, for the elaboration passes. */
import type * as A from '../parser/ast.js';

export interface Visitor {
  expr?(e: A.Expr): void;
  stmt?(s: A.Stmt): void;
}

export function walkStmt(s: A.Stmt, v: Visitor): void {
  v.stmt?.(s);
  switch (s.kind) {
    case 'block': s.body.forEach(b => walkStmt(b, v)); break;
    case 'expr': walkExpr(s.expr, v); break;
    case 'if': walkExpr(s.cond, v); walkStmt(s.then, v); if (s.else) walkStmt(s.else, v); break;
    case 'while': walkExpr(s.cond, v); walkStmt(s.body, v); break;
    case 'for': if (s.init) walkExpr(s.init, v); walkExpr(s.cond, v); if (s.incr) walkExpr(s.incr, v); walkStmt(s.body, v); break;
    case 'foreach':
      if (s.value) walkExpr(s.value, v);
      s.keys.forEach(k => walkExpr(k, v));
      walkExpr(s.array, v);
      s.slice?.forEach(i => i && walkExpr(i, v));
      if (s.limit) walkExpr(s.limit, v);
      walkStmt(s.body, v);
      break;
    case 'return': if (s.value) walkExpr(s.value, v); break;
    case 'delete': walkExpr(s.target, v); break;
    case 'try': walkStmt(s.body, v); if (s.catchVar) walkExpr(s.catchVar, v); walkStmt(s.handler, v); break;
  }
}

export function children(e: A.Expr): A.Expr[] {
  switch (e.kind) {
    case 'index': return [e.base, ...e.indexes.filter((i): i is A.Expr => !!i)];
    case 'call': return e.args;
    case 'print': return e.hist ? [e.hist, ...e.args] : e.args;
    case 'tvar': case 'atvar': return e.components.flatMap(c => (c.kind === 'index' ? [c.index] : []));
    case 'cast': return [e.operand, ...e.components.flatMap(c => (c.kind === 'index' ? [c.index] : []))];
    case 'defined': case 'entry': case 'stat': case 'hist': case 'unary': case 'crement': case 'register': return [e.operand];
    case 'perf': return [e.operand];
    case 'deref': return [e.size, e.addr];
    case 'binary': case 'logical': case 'compare': case 'concat': case 'assign': return [e.left, e.right];
    case 'regex': return [e.left, e.right];
    case 'ternary': return [e.cond, e.then, e.else];
    case 'in': return [e.target];
    default: return [];
  }
}

export function walkExpr(e: A.Expr, v: Visitor): void {
  v.expr?.(e);
  for (const c of children(e)) walkExpr(c, v);
}
