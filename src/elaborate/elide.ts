/**
 * Dead-assignment elision, as stap's optimiser does it: an alias prologue that sets `argstr`,
 * `fd`, ... for every syscall costs nothing when the user's handler never reads them. A
 * statement `local = EXPR` is dropped when the local is never read and EXPR has no side effects.
 */
import type * as A from '../parser/ast.js';
import { children, walkExpr, walkStmt } from './walk.js';
import { builtinSignature } from './builtins.js';
import type { LocalVar, Program } from './program.js';
import { analyseUsage } from './usage.js';

/** Builtins without side effects (they only compute a value). */
const PURE_BUILTINS = new Set([
  'strlen', 'substr', 'isinstr', 'strpos', 'strtol', 'str_replace', 'text_str', 'text_strn', 'stringat', 'string_quoted',
  'toupper', 'tolower', 'isdigit', 'errno_str', 'pid', 'tid', 'ppid', 'uid', 'euid', 'gid', 'egid', 'cpu', 'execname',
  'pexecname', 'pp', 'pn', 'probefunc', 'ppfunc', 'is_return', 'target', 'gettimeofday_s', 'gettimeofday_ms',
  'gettimeofday_us', 'gettimeofday_ns', 'local_clock_s', 'local_clock_ms', 'local_clock_us', 'local_clock_ns', 'jiffies',
  'ctime', 'HZ', 'abs', 'user_string2', 'bdevname_devt', 'symname', 'symdata', 'cmdline_str', 'cmdline_arg', 'cmdline_args',
  'task_utime', 'task_stime', 'task_utime_tid', 'task_stime_tid',
]);

/** Script functions known to compute a value and nothing else (filled per program). */
let pureFunctions = new Set<string>();

/** No side effects and no runtime error; `localWrites` allows writes to a function's own locals. */
function pure(e: A.Expr, localWrites = false): boolean {
  switch (e.kind) {
    case 'assign': case 'crement': {
      if (!localWrites) return false;
      const target = e.kind === 'assign' ? e.left : e.operand;
      if (target.kind !== 'sym' || target.ref?.scope !== 'local' || (e.kind === 'assign' && e.op === '<<<')) return false;
      break;
    }
    case 'call':
      if (e.target?.kind === 'function') { if (!pureFunctions.has(e.target.id)) return false; break; }
      if (e.target?.kind !== 'builtin' || !PURE_BUILTINS.has(e.name) || !builtinSignature(e.name)) return false;
      break;
    case 'print':
      if (!e.fn.startsWith('s')) return false;
      break;
    case 'stat': case 'hist': case 'index':
      // Extracting from an empty aggregate or a hist index can raise an error: keep them.
      if (e.kind !== 'index' || e.base.kind === 'hist') return false;
      break;
    case 'binary':
      if (e.op === '/' || e.op === '%') return false;
      break;
  }
  return children(e).every(c => pure(c, localWrites));
}

/** A function body that only computes: locals written, values returned, no output, no globals written. */
function pureBody(s: A.Stmt): boolean {
  switch (s.kind) {
    case 'block': return s.body.every(pureBody);
    case 'expr': return pure(s.expr, true);
    case 'if': return pure(s.cond, true) && pureBody(s.then) && (!s.else || pureBody(s.else));
    case 'while': return pure(s.cond, true) && pureBody(s.body);
    case 'for': return (!s.init || pure(s.init, true)) && pure(s.cond, true) && (!s.incr || pure(s.incr, true)) && pureBody(s.body);
    case 'return': return !s.value || pure(s.value, true);
    case 'null': case 'break': case 'continue': return true;
    default: return false;
  }
}

function findPureFunctions(program: Program): Set<string> {
  pureFunctions = new Set();
  for (let changed = true; changed;) {
    changed = false;
    for (const f of program.functions) {
      if (pureFunctions.has(f.id) || f.decl.body.kind !== 'block') continue;
      if (pureBody(f.decl.body)) { pureFunctions.add(f.id); changed = true; }
    }
  }
  return pureFunctions;
}

let removed = 0;

function elideIn(s: A.Stmt): A.Stmt {
  switch (s.kind) {
    case 'block': {
      const body: A.Stmt[] = [];
      for (const b of s.body) {
        const x = elideIn(b);
        if (x.kind === 'expr' && x.expr.kind === 'assign' && x.expr.op === '=' && x.expr.left.kind === 'sym') {
          const ref = x.expr.left.ref;
          if (ref?.scope === 'local' && !(ref as LocalVar).read && pure(x.expr.right)) { removed++; continue; }
        }
        body.push(x);
      }
      return { ...s, body };
    }
    case 'if': return { ...s, then: elideIn(s.then), else: s.else && elideIn(s.else) };
    default: return s;
  }
}

export function elideDeadAssignments(program: Program): void {
  findPureFunctions(program);
  // Removing `argstr = sprintf(..., filename)` can leave `filename` unread: repeat to a fixed point.
  for (let round = 0; round < 8; round++) {
    analyseUsage(program);
    removed = 0;
    for (const p of program.probes) p.body = elideIn(p.body) as A.Block;
    if (!removed) break;
  }
  analyseUsage(program);
  for (const p of program.probes) p.locals = p.locals.filter(l => l.read || l.assigned);
}

/**
 * Fetch arguments of dynamic probes that no handler reads any more (their variables were elided)
 * are not armed: each costs a memory read in the kernel at every hit.
 */
export function pruneUnreadFetches(program: Program): void {
  for (const p of program.probes) {
    const point = p.point;
    if (point.kind !== 'uprobe' && point.kind !== 'kprobe') continue;
    const read = new Set<string>();
    const visit = (e: A.Expr): void => {
      if (e.kind !== 'tvar' || !e.ref) return;
      if (e.ref.kind === 'field') read.add(p.fields[e.ref.index]!.name);
      else if (e.ref.kind === 'pretty') for (const f of e.ref.fields) read.add(p.fields[f.index]!.name);
    };
    for (const c of p.conditions) walkExpr(c, { expr: visit });
    walkStmt(p.body, { expr: visit });
    point.fetches = point.fetches.filter(f => read.has(f.name));
  }
}
