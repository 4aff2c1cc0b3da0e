/**
 * Filter pushdown: turns the part of a probe's condition that compares event fields (or tid(), cpu(), execname())
 * with constants into the kernel's event `filter` syntax, so that records the handler would ignore are never copied
 * out of the kernel. Only exact translations are produced: the kernel must accept precisely the records for which
 * the pushed comparisons hold as the handler evaluates them. The handler keeps its own test, so a missing filter
 * costs speed only; a wrong one would lose events.
 */
import type * as A from '../parser/ast.js';
import { cUnescape } from '../parser/escapes.js';
import { MAX_FILTER_BYTES } from '../tracefs/instance.js';
import type { FilterView } from './casts.js';

/** A comparable thing in the kernel's filter: an event field, a common field or a generic field. */
export interface FilterSubject {
  name: string;
  view: FilterView;
}

export interface PushdownContext {
  /** The kernel's view of the probe's field `index` (DerivedProbe.fields order). */
  field(index: number): FilterSubject | undefined;
  /** MAXSTRINGLEN: handler strings hold at most maxStringLen - 1 bytes. */
  maxStringLen: number;
}

/** The parts of a derived probe the analysis reads. */
export interface ProbeCondition {
  body: A.Block;
  conditions: A.Expr[];
}

/** common_pid is the thread id: exactly what tid() reports. */
const TID: FilterSubject = { name: 'common_pid', view: { kind: 'int', bits: 32, kernelSigned: true, valueSigned: true } };
/** The generic CPU field: the CPU the event was recorded on, like cpu(). */
const CPU: FilterSubject = { name: 'CPU', view: { kind: 'int', bits: 32, kernelSigned: true, valueSigned: true } };
/** The generic COMM field: current->comm when the event fired, which is what execname() reports. */
const COMM: FilterSubject = { name: 'COMM', view: { kind: 'string', capacity: 16 } };

/** MAX_FILTER_STR_VAL: the kernel's limit for a string operand. */
const MAX_FILTER_STRING = 255;

const BUILTIN_SUBJECTS: Record<string, FilterSubject> = { tid: TID, cpu: CPU, execname: COMM };

/** Builtins that read context or compute without side effects (no output, no errors, no state). */
const PURE_BUILTINS = new Set([
  'pid', 'tid', 'ppid', 'uid', 'euid', 'gid', 'egid', 'cpu', 'execname', 'pexecname', 'target', 'pp', 'pn',
  'probefunc', 'ppfunc', 'is_return', 'num_online_cpus', 'stp_pid', 'strlen', 'isinstr', 'strpos', 'toupper',
  'tolower', 'isdigit', 'jiffies', 'HZ', 'gettimeofday_s', 'gettimeofday_ms', 'gettimeofday_us', 'gettimeofday_ns',
  'local_clock_s', 'local_clock_ms', 'local_clock_us', 'local_clock_ns',
]);

const NUMERIC_OPS = new Set(['==', '!=', '<', '<=', '>', '>=']);
const FLIPPED: Record<string, string> = { '==': '==', '!=': '!=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

/** The condition of a body that is nothing but `if (COND) {...}` (blocks around it allowed), else undefined. */
export function singleIfCondition(s: A.Stmt): A.Expr | undefined {
  if (s.kind === 'block') return s.body.length === 1 ? singleIfCondition(s.body[0]!) : undefined;
  if (s.kind === 'if' && !s.else) return s.cond;
  return undefined;
}

/** The operands of a chain of `&&`, in evaluation order. */
export function conjuncts(e: A.Expr): A.Expr[] {
  return e.kind === 'logical' && e.op === '&&' ? [...conjuncts(e.left), ...conjuncts(e.right)] : [e];
}

/**
 * Whether evaluating `e` can have an effect beyond its value: output, assignment, errors (division), regex match
 * state, user functions. A filter may only skip evaluations that have none.
 */
export function isPure(e: A.Expr): boolean {
  switch (e.kind) {
    case 'num': case 'str': case 'sym': case 'const':
      return true;
    case 'tvar':
      return e.ref !== undefined && e.components.length === 0;
    case 'index':
      return (e.base.kind === 'sym' || isPure(e.base)) && e.indexes.every((i) => i === null || isPure(i));
    case 'hist':
      return isPure(e.operand);
    case 'in':
      return isPure(e.target);
    case 'compare': case 'logical': case 'concat':
      return isPure(e.left) && isPure(e.right);
    case 'binary':
      return e.op !== '/' && e.op !== '%' && isPure(e.left) && isPure(e.right);
    case 'unary':
      return isPure(e.operand);
    case 'ternary':
      return isPure(e.cond) && isPure(e.then) && isPure(e.else);
    case 'call':
      return e.target?.kind === 'builtin' && PURE_BUILTINS.has(e.target.name) && e.args.every(isPure);
    default:
      return false;
  }
}

/** The value of a constant expression (literals, negation, complement, compile-time context constants). */
export function constantValue(e: A.Expr): bigint | string | undefined {
  switch (e.kind) {
    case 'num': return e.value;
    case 'str': return cUnescape(e.value);
    case 'tvar': return e.ref?.kind === 'const' && e.components.length === 0 ? e.ref.value : undefined;
    case 'unary': {
      const v = constantValue(e.operand);
      if (typeof v !== 'bigint') return undefined;
      if (e.op === '-') return BigInt.asIntN(64, -v);
      if (e.op === '+') return v;
      if (e.op === '~') return BigInt.asIntN(64, ~v);
      return undefined;
    }
    default:
      return undefined;
  }
}

function subjectOf(e: A.Expr, ctx: PushdownContext): FilterSubject | undefined {
  if (e.kind === 'tvar') {
    if (e.ref?.kind !== 'field' || e.components.length !== 0 || e.addressOf) return undefined;
    return ctx.field(e.ref.index);
  }
  if (e.kind === 'call' && e.target?.kind === 'builtin' && e.args.length === 0) return BUILTIN_SUBJECTS[e.target.name];
  return undefined;
}

/** A string operand the kernel will compare byte for byte as the handler compares characters, quoted; or undefined. */
export function quoteFilterString(s: string): string | undefined {
  // Printable ASCII only: control files take UTF-8, handler strings are bytes, and the grammar has no escapes.
  if (s.length === 0 || s.length > MAX_FILTER_STRING || !/^[\x20-\x7e]*$/.test(s) || s.includes('\\')) return undefined;
  if (!s.includes('"')) return `"${s}"`;
  if (!s.includes("'")) return `'${s}'`;
  return undefined;
}

function intRange(bits: number, signed: boolean): [bigint, bigint] {
  return signed ? [-(1n << BigInt(bits - 1)), (1n << BigInt(bits - 1)) - 1n] : [0n, (1n << BigInt(bits)) - 1n];
}

/** `name OP c` for an integer subject, exact under the subject's view, or undefined. */
export function integerComparison(name: string, view: Extract<FilterView, { kind: 'int' }>, op: string, c: bigint): string | undefined {
  if (!NUMERIC_OPS.has(op)) return undefined;
  const [lo, hi] = intRange(view.bits, view.valueSigned);
  // A constant outside the handler's range makes the comparison constant; the kernel would truncate it instead.
  if (c < lo || c > hi) return undefined;
  if (view.kernelSigned === view.valueSigned) return `${name} ${op} ${c}`;
  if (view.kernelSigned) return undefined;
  // The kernel compares the unsigned bit pattern u, the handler the signed value s (s < 0 exactly when u >= B).
  const B = 1n << BigInt(view.bits - 1);
  const U = c < 0n ? c + (1n << BigInt(view.bits)) : c;
  switch (op) {
    case '==': return `${name} == ${U}`;
    case '!=': return `${name} != ${U}`;
    case '<': return c >= 0n ? `(${name} < ${c} || ${name} >= ${B})` : `(${name} >= ${B} && ${name} < ${U})`;
    case '<=': return c >= 0n ? `(${name} <= ${c} || ${name} >= ${B})` : `(${name} >= ${B} && ${name} <= ${U})`;
    case '>': return c >= 0n ? `(${name} > ${c} && ${name} < ${B})` : `(${name} < ${B} || ${name} > ${U})`;
    case '>=': return c >= 0n ? `(${name} >= ${c} && ${name} < ${B})` : `(${name} < ${B} || ${name} >= ${U})`;
  }
  return undefined;
}

function comparison(subject: FilterSubject, op: string, value: bigint | string, ctx: PushdownContext): string | undefined {
  const view = subject.view;
  if (view.kind === 'int') return typeof value === 'bigint' ? integerComparison(subject.name, view, op, value) : undefined;
  if (view.kind === 'string') {
    if (typeof value !== 'string' || (op !== '==' && op !== '!=')) return undefined;
    // A static char[N] holds at most N-1 bytes and a NUL, so longer constants never match on either side; a
    // handler string is cut to maxStringLen-1 bytes, so a constant that long could equal a cut-off value the
    // kernel compares whole.
    if (value.length >= Math.min(view.capacity ?? Infinity, ctx.maxStringLen - 1)) return undefined;
    const quoted = quoteFilterString(value);
    return quoted === undefined ? undefined : `${subject.name} ${op} ${quoted}`;
  }
  return undefined;
}

/** The exact kernel filter for the boolean expression `e`, or undefined when it has none. */
export function translateCondition(e: A.Expr, ctx: PushdownContext): string | undefined {
  switch (e.kind) {
    case 'compare': {
      const left = subjectOf(e.left, ctx);
      if (left) {
        const v = constantValue(e.right);
        return v === undefined ? undefined : comparison(left, e.op, v, ctx);
      }
      const right = subjectOf(e.right, ctx);
      if (right && FLIPPED[e.op]) {
        const v = constantValue(e.left);
        return v === undefined ? undefined : comparison(right, FLIPPED[e.op]!, v, ctx);
      }
      return undefined;
    }
    case 'logical': {
      const l = translateCondition(e.left, ctx);
      const r = l === undefined ? undefined : translateCondition(e.right, ctx);
      return r === undefined ? undefined : `(${l} ${e.op} ${r})`;
    }
    case 'unary': {
      if (e.op !== '!') return undefined;
      const inner = translateCondition(e.operand, ctx);
      return inner === undefined ? undefined : `!(${inner})`;
    }
    case 'tvar': {
      // `if ($x)` tests a long against zero.
      const s = subjectOf(e, ctx);
      return s && s.view.kind === 'int' ? integerComparison(s.name, s.view, '!=', 0n) : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * The filter that keeps every event this probe's handler can act on, or undefined when nothing can be pushed.
 * Conjuncts are taken in evaluation order (arming conditions, then the single `if`) up to the first one whose
 * evaluation could have an effect: dropping an event before it would skip that effect.
 */
export function probeFilter(probe: ProbeCondition, ctx: PushdownContext): string | undefined {
  const all = probe.conditions.flatMap(conjuncts);
  const cond = singleIfCondition(probe.body);
  if (cond) all.push(...conjuncts(cond));
  const parts: string[] = [];
  for (const c of all) {
    const t = translateCondition(c, ctx);
    if (t !== undefined) parts.push(t);
    else if (!isPure(c)) break;
  }
  return parts.length ? parts.join(' && ') : undefined;
}

/**
 * The filter for an event several probes share: an event must reach every handler that could act on it, so the
 * union (OR) of their filters, and none at all when one of them has none. Undefined also when it would be too long.
 */
export function eventFilter(perProbe: Array<string | undefined>): string | undefined {
  if (perProbe.length === 0 || perProbe.some((f) => f === undefined)) return undefined;
  const distinct = [...new Set(perProbe as string[])];
  const filter = distinct.length === 1 ? distinct[0]! : distinct.map((f) => `(${f})`).join(' || ');
  return Buffer.byteLength(filter) <= MAX_FILTER_BYTES ? filter : undefined;
}
