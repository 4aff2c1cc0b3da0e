/**
 * Fetch lowering: every context value a dynamic probe's handler reads (`$param`, `$p->a->b`,
 * `$arr[2]`, `$return`, `$argN`, `$$parms`, `register("ip")`, `addr()`, `kernel_string($p)`,
 * `user_string($p)`, `@cast(p, "type")->m`, `@entry(expr)`) becomes a tracefs fetch argument of
 * the probe's definition, so the kernel captures it at the hit. Each lowered value is a field of
 * the probe's event record: a fetch argument (`point.fetches` + `probe.fields`, deduplicated), a
 * field the record has anyway (`__probe_ip`, `__probe_ret_ip`), or a constant.
 *
 * Return probes read parameters as they were at entry, as stap does: those values are fetched by
 * a companion entry probe and reach the return record through fields named `__entry_<name>`.
 * Memory reached through a parameter (`$buf->len`, `user_string($buf)`) is read at entry too, since
 * the register holding the pointer is gone at the return; stap reads it at the return.
 */
import type * as A from '../../parser/ast.js';
import { SemanticError } from '../../diagnostics/diagnostics.js';
import { baseForArgLocation, buildFetchArg, FetchError, typeAtPath, type FetchBase, type FetchMode, type FetchResult } from '../../symbols/fetch.js';
import { loadKernelBtf, loadModuleBtf } from '../../symbols/btf.js';
import { readDwarf } from '../../symbols/dwarf.js';
import { readElf } from '../../symbols/elf.js';
import { findMember, formatType, resolveType, type CType, type IntType, type PointerType } from '../../symbols/types.js';
import type { ConcretePoint, DerivedProbe, Fetch } from '../program.js';
import { walkExpr } from '../walk.js';
import { LONG, siteOf, type Site, type SiteValue } from './site.js';
import { lowerSdtOperand, SdtOperandError } from './sdt-operands.js';
import { prettyFormat } from './pretty.js';

/** Fields of a return probe with this prefix come from the paired entry record's field of the rest of the name. */
export const ENTRY_FIELD_PREFIX = '__entry_';

/** Fields every entry (return) record of a kprobe/uprobe event carries without a fetch argument. */
export const PROBE_IP_FIELD = '__probe_ip';
export const PROBE_FUNC_FIELD = '__probe_func';
export const PROBE_RET_IP_FIELD = '__probe_ret_ip';

/** Builtins that read probe context and are lowered to fetch arguments in dynamic probes. */
export const DYNAMIC_CALLS: ReadonlySet<string> = new Set([
  'kernel_string', 'user_string', 'kernel_string_n', 'user_string_n', 'register', 'u_register', 'addr', 'uaddr',
  // stap's dwarfless argument tapset: the Nth ABI argument with a C integer type, and the return register.
  'int_arg', 'uint_arg', 'long_arg', 'ulong_arg', 'pointer_arg', 's32_arg', 'u32_arg', 's64_arg', 'u64_arg', 'returnval',
  'print_regs',
]);

/** tracefs MAX_ARG_NAME_LEN: field names are at most 32 characters. */
const MAX_FIELD_NAME = 32;
/** tracefs MAX_TRACE_ARGS: fetch arguments per probe event. */
const MAX_FETCHES = 128;

type DynamicPoint = Extract<ConcretePoint, { kind: 'uprobe' | 'kprobe' }>;

interface Ctx {
  probe: DerivedProbe;
  point: DynamicPoint;
  site: Site;
  /** Capture in the companion entry probe (only ever true in return probes). */
  atEntry: boolean;
}

/** A lowered value before it becomes a field. */
type Lowered =
  | { kind: 'fetch'; name: string; arg: string; type: 'long' | 'string' }
  | { kind: 'native'; field: string }
  | { kind: 'const'; value: bigint };

type Constant = Extract<Lowered, { kind: 'const' }>;

/** Where a typed value starts, before member steps. */
interface Located {
  base: FetchBase;
  type: CType;
  /** How the script spelled it, for field names and messages: `$p`, `$arg2`, `$return`. */
  text: string;
  /** Parameters of a return probe are captured at entry. */
  entryValue: boolean;
  /** The start of field names when `text` would make a poor one (`@cast(...)` → the type's name). */
  label?: string;
}

const intType = (size: number, signed: boolean): IntType =>
  Object.freeze({ kind: 'int', name: `${signed ? '' : 'unsigned '}${size === 8 ? 'long' : size === 4 ? 'int' : size === 2 ? 'short' : 'char'}`, size, signed, char: false, bool: false });
const CHAR: IntType = Object.freeze({ kind: 'int', name: 'char', size: 1, signed: true, char: true, bool: false });
const pointerTo = (target: CType): PointerType => Object.freeze({ kind: 'pointer', name: '', size: 8, reference: false, target });

function ctxFor(probe: DerivedProbe, atEntry: boolean, tok: A.Expr['tok']): Ctx {
  const point = probe.point;
  if (point.kind !== 'uprobe' && point.kind !== 'kprobe') {
    throw new SemanticError(`context values need a kernel or user function probe; ${probe.pp} is not one`, tok);
  }
  const site = siteOf(point);
  if (!site) throw new SemanticError(`no symbol information was recorded for ${probe.pp}`, tok);
  return { probe, point, site, atEntry: atEntry && site.isReturn };
}

function fail(ctx: Ctx, what: string, message: string, tok: A.Expr['tok']): SemanticError {
  return new SemanticError(`cannot fetch ${what} in ${ctx.site.what}: ${message}`, tok);
}

/* ---------- fields ---------- */

/**
 * A field name for a value spelled `text`: a C identifier of at most 32 characters including the
 * entry prefix and a dedup suffix. Long member chains keep their tail (`dentry_d_name_name`), the
 * part that tells values apart.
 */
function sanitize(text: string): string {
  const max = MAX_FIELD_NAME - ENTRY_FIELD_PREFIX.length - 4;
  let name = text === '$return' ? 'ret' : text.replace(/^\$+/, '').replace(/->|\./g, '_').replace(/[^A-Za-z0-9_]+/g, '_').replace(/_+/g, '_');
  if (name.length > max) {
    const cut = name.length - max;
    // Drop the word the cut went through: `ntry_d_name` would read as nonsense.
    name = name[cut - 1] === '_' ? name.slice(cut) : name.slice(cut).replace(/^[^_]*_/, '');
  }
  name = name.replace(/^_+|_+$/g, '');
  if (name === '' || /^\d/.test(name) || name.startsWith('common_') || name.startsWith('__probe')) name = `v_${name}`.slice(0, max);
  return name;
}

function fieldRef(probe: DerivedProbe, name: string, type: 'long' | 'string'): A.ContextRef {
  let index = probe.fields.findIndex((f) => f.name === name);
  if (index < 0) {
    index = probe.fields.length;
    probe.fields.push({ name, type });
  }
  return { kind: 'field', index, type };
}

/** Turns a lowered value into the handler's reference to it, adding the fetch and field. */
function bind(ctx: Ctx, value: Lowered): A.ContextRef {
  const prefix = ctx.atEntry ? ENTRY_FIELD_PREFIX : '';
  switch (value.kind) {
    case 'const':
      return { kind: 'const', value: value.value };
    case 'native':
      // Record fields are the hit's own; entry-time ones have their return-record equivalents (see probeAddress).
      return fieldRef(ctx.probe, value.field, 'long');
    case 'fetch': {
      const fetches: Fetch[] = ctx.point.fetches;
      const same = fetches.find((f) => f.arg === value.arg && f.name.startsWith(ENTRY_FIELD_PREFIX) === ctx.atEntry);
      if (same) return fieldRef(ctx.probe, same.name, value.type);
      const taken = new Set([...ctx.probe.fields.map((f) => f.name), ...fetches.map((f) => f.name)]);
      if (fetches.length >= MAX_FETCHES) {
        throw new SemanticError(`${ctx.probe.pp} reads more than ${MAX_FETCHES} values, the most one tracefs probe event can fetch`, ctx.probe.tok);
      }
      let name = prefix + value.name;
      for (let n = 2; taken.has(name); n++) name = `${prefix}${value.name}_${n}`;
      fetches.push({ name, arg: value.arg });
      return fieldRef(ctx.probe, name, value.type);
    }
  }
}

function refType(ref: A.ContextRef): 'long' | 'string' {
  if (ref.kind === 'field') return ref.type;
  if (ref.kind === 'pretty') return 'string';
  return typeof ref.value === 'string' ? 'string' : 'long';
}

/* ---------- locating named values ---------- */

function siteValue(ctx: Ctx, v: SiteValue, text: string, tok: A.Expr['tok']): Located {
  const caveat = ctx.site.values().caveat && `${text}: ${ctx.site.values().caveat}`;
  if (caveat && !ctx.probe.warnings?.some((w) => w.message === caveat)) (ctx.probe.warnings ??= []).push(new SemanticError(caveat, tok));
  let base: FetchBase;
  try {
    base = baseForArgLocation(v.location);
  } catch (err) {
    throw fail(ctx, text, (err as Error).message, tok);
  }
  return { base, type: v.type, text, entryValue: ctx.site.isReturn };
}

/** The Nth (1-based) argument: its parameter when types are known, else the ABI register as a long. */
function argument(ctx: Ctx, n: number, text: string, tok: A.Expr['tok']): Located | Constant {
  const site = ctx.site;
  if (site.sdtArgs) {
    const arg = site.sdtArgs[n - 1];
    if (!arg) throw new SemanticError(`${text}: USDT probe has ${site.sdtArgs.length} argument${site.sdtArgs.length === 1 ? '' : 's'} (${site.what})`, tok);
    let value;
    try {
      value = lowerSdtOperand(arg, site.elf);
    } catch (err) {
      if (err instanceof SdtOperandError) throw fail(ctx, text, err.message, tok);
      throw err;
    }
    if (value.kind === 'const') return value;
    return { base: { kind: 'value', arg: value.fetch }, type: intType(arg.size, arg.signed), text, entryValue: false };
  }
  const params = site.values().params;
  if (n <= params.length) return siteValue(ctx, params[n - 1]!, text, tok);
  if (site.values().cloned) throw fail(ctx, text, `${site.values().missing}; ${site.values().hint}`, tok);
  if (!site.atFunctionEntry) {
    throw fail(ctx, text, 'arguments are only in their ABI registers at a function\'s first instruction; use register("...")', tok);
  }
  if (params.length > 0 && !site.values().missing) {
    throw new SemanticError(`${text}: the function takes ${params.length} argument${params.length === 1 ? '' : 's'} (${site.what})`, tok);
  }
  return siteValue(ctx, { name: text, type: LONG, location: site.regs.entryArgLocation(n - 1) }, text, tok);
}

function locateVar(ctx: Ctx, name: string, tok: A.Expr['tok']): Located | Constant {
  const site = ctx.site;
  if (name === '$return') {
    if (!site.isReturn) throw new SemanticError(`'$return' is only available in .return probes (${site.what} is an entry probe)`, tok);
    if (ctx.atEntry) throw new SemanticError('@entry($return): the return value does not exist at entry', tok);
    const returnType = site.values().returnType ?? LONG;
    if (resolveType(returnType).kind === 'void') throw new SemanticError(`'$return': ${site.what} returns void`, tok);
    let base: FetchBase;
    try {
      base = site.values().returnType ? baseForArgLocation(site.regs.returnValueLocation(returnType)) : { kind: 'value', arg: site.regs.returnRegister };
    } catch (err) {
      throw fail(ctx, '$return', (err as Error).message, tok);
    }
    return { base, type: returnType, text: '$return', entryValue: false };
  }
  const argN = /^\$arg(\d+)$/.exec(name);
  if (argN) {
    const n = Number(argN[1]);
    if (n < 1) throw new SemanticError(`${name}: arguments are numbered from $arg1`, tok);
    return argument(ctx, n, name, tok);
  }
  const values = site.values();
  const param = values.params.find((p) => p.name === name.slice(1));
  if (param) return siteValue(ctx, param, name, tok);
  if (values.missing) {
    throw new SemanticError(
      `unable to find context variable '${name}' in ${site.what}: ${values.missing}; ${values.hint ?? 'read arguments by position instead ($arg1, $arg2, ... or register("di"))'}`, tok);
  }
  const alternatives = values.params.map((p) => `$${p.name}`).join(' ');
  const where = site.sdtArgs ? ' (USDT probes have $arg1..$argN)' : !site.atFunctionEntry ? ' (only a function\'s parameters at its entry are known to tstap)' : '';
  throw new SemanticError(`unable to find context variable '${name}' in ${site.what}${where}${alternatives ? ` (alternatives: ${alternatives})` : ''}`, tok);
}

/** `->a`, `[3]`: the member path of a target variable; indexes must be constants for tracefs. */
function memberPath(components: A.Component[], text: string): { path: string; text: string } {
  let path = '';
  for (const c of components) {
    if (c.kind === 'member') {
      path += `->${c.name}`;
      text += `->${c.name}`;
    } else if (c.kind === 'index') {
      const index = constantIndex(c.index);
      if (index === undefined) {
        throw new SemanticError(`${text}[...]: tracefs fetches fixed offsets, so an index must be a constant number`, c.tok);
      }
      path += `[${index}]`;
      text += `[${index}]`;
    } else {
      throw new SemanticError(`${text}${'$'.repeat(c.depth)}: pretty-printing ends a value; it cannot be followed by members or indexes`, c.tok);
    }
  }
  return { path, text };
}

function constantIndex(e: A.Expr): bigint | undefined {
  if (e.kind === 'num') return e.value;
  if (e.kind === 'unary' && e.op === '-' && e.operand.kind === 'num') return -e.operand.value;
  return undefined;
}

function fetch(ctx: Ctx, located: Located, path: string, mode: FetchMode, text: string, tok: A.Expr['tok']): FetchResult {
  let result: FetchResult;
  try {
    result = buildFetchArg({ base: located.base, type: located.type, path, probe: ctx.site.space === 'user' ? 'uprobe' : 'kernel', mode });
  } catch (err) {
    if (err instanceof FetchError) throw fail(ctx, text, inScriptTerms(err.message, located), tok);
    throw err;
  }
  if (result.kind === 'array') {
    throw fail(ctx, text, `it is an array (${formatType(result.type)}); index one element, e.g. ${text}[0]`, tok);
  }
  if (result.addend) {
    throw fail(ctx, text, `its address is ${result.addend} bytes past a fetched pointer, and tracefs cannot add; take the address of the structure instead`, tok);
  }
  if (result.signExtendBits !== undefined) {
    throw fail(ctx, text, `it is a signed bitfield, and tracefs reads bitfields unsigned (the sign would be lost)`, tok);
  }
  return result;
}

/** fetch.ts describes values by their fetch base (`%di->weight`); say `$p->weight` as the script does. */
function inScriptTerms(message: string, located: Located): string {
  const base = located.base.kind === 'value'
    ? located.base.arg
    : `${located.base.offset < 0 ? '-' : '+'}${Math.abs(located.base.offset)}(${located.base.address})`;
  return message.startsWith(base) ? located.text + message.slice(base.length) : message;
}

/** The value of `located` with its member path, as a field. */
function lowerLocated(ctx: Ctx, located: Located, components: A.Component[], addressOf: boolean, tok: A.Expr['tok']): A.ContextRef {
  const last = components.at(-1);
  if (last?.kind === 'pretty') {
    if (addressOf) throw new SemanticError('cannot take the address of a pretty-printed value', last.tok);
    return prettyValue(ctx, located, components.slice(0, -1), last.depth === 2, tok);
  }
  const { path, text } = memberPath(components, located.text);
  const result = fetch(ctx, located, path, addressOf ? 'address' : 'value', addressOf ? `&${text}` : text, tok);
  const label = located.label === undefined ? text : memberPath(components, located.label).text;
  return bind({ ...ctx, atEntry: ctx.atEntry || located.entryValue }, {
    kind: 'fetch', name: sanitize(addressOf ? `addr_${label}` : label), arg: result.arg, type: result.kind === 'string' ? 'string' : 'long',
  });
}

/* ---------- $vars ---------- */

/** `$$parms`, `$$vars`, `$$locals`, `$$return`, and with `$`/`$$` after them each value pretty-printed. */
function contextVars(ctx: Ctx, e: A.TargetVar): A.ContextRef {
  const site = ctx.site;
  const kind = e.name.slice(2);
  const depth = e.components.find((c) => c.kind === 'pretty')?.depth;
  if (!['parms', 'vars', 'locals', 'return'].includes(kind)) {
    throw new SemanticError(`unknown context variable '${e.name}' (have $$vars, $$parms, $$locals, $$return)`, e.tok);
  }
  const values: Array<{ name: string; locate: () => Located }> = [];
  if (kind === 'parms' || kind === 'vars') {
    if (site.sdtArgs) {
      site.sdtArgs.forEach((_, i) => {
        const v = argument(ctx, i + 1, `$arg${i + 1}`, e.tok);
        if ('base' in v) values.push({ name: `arg${i + 1}`, locate: () => v });
      });
    } else {
      for (const p of site.values().params) if (p.name !== '') values.push({ name: p.name, locate: () => siteValue(ctx, p, `$${p.name}`, e.tok) });
    }
  }
  if (kind === 'return' && site.isReturn && !ctx.atEntry) {
    const located = locateVar(ctx, '$return', e.tok);
    if ('base' in located) values.push({ name: 'return', locate: () => located });
  }
  const formats: string[] = [];
  const fields: Array<{ index: number; type: 'long' | 'string' }> = [];
  for (const { name, locate } of values) {
    // stap prints what it can and leaves out what it cannot fetch (e.g. structs passed by value).
    try {
      const located = locate();
      const ref = depth ? prettyValue(ctx, located, [], depth === 2, e.tok) : lowerLocated(ctx, located, [], false, e.tok);
      if (ref.kind === 'field') {
        formats.push(`${name}=${ref.type === 'string' ? '"%s"' : '0x%x'}`);
        fields.push({ index: ref.index, type: ref.type });
      } else if (ref.kind === 'pretty') {
        formats.push(`${name}=${ref.format}`);
        fields.push(...ref.fields);
      }
    } catch (err) {
      if (!(err instanceof SemanticError)) throw err;
    }
  }
  return { kind: 'pretty', format: formats.join(' '), fields };
}

/** `$var$`, `$var->member$$`: the value's members fetched one by one and laid out as stap prints them. */
function prettyValue(ctx: Ctx, located: Located, components: A.Component[], full: boolean, tok: A.Expr['tok']): A.ContextRef {
  const { path, text } = memberPath(components, located.text);
  const label = located.label === undefined ? text : memberPath(components, located.label).text;
  let type;
  try {
    type = typeAtPath(located.type, path);
  } catch (err) {
    if (err instanceof FetchError) throw fail(ctx, text, inScriptTerms(err.message, located), tok);
    throw err;
  }
  const fields: Array<{ index: number; type: 'long' | 'string' }> = [];
  const format = prettyFormat(type, full, (leaf, mode) => {
    let ref: A.ContextRef;
    try {
      const result = fetch(ctx, located, path + leaf, mode, text + leaf, tok);
      ref = bind({ ...ctx, atEntry: ctx.atEntry || located.entryValue }, {
        kind: 'fetch', name: sanitize(label + leaf), arg: result.arg, type: result.kind === 'string' ? 'string' : 'long',
      });
    } catch (err) {
      if (err instanceof SemanticError) return false; // printed as '?', as stap does for what it cannot read
      throw err;
    }
    if (ref.kind !== 'field') return false;
    fields.push({ index: ref.index, type: ref.type });
    return true;
  });
  return { kind: 'pretty', format, fields };
}

function lowerTargetVar(ctx: Ctx, e: A.TargetVar): A.ContextRef {
  if (e.name.startsWith('$$')) return contextVars(ctx, e);
  const located = locateVar(ctx, e.name, e.tok);
  if (!('base' in located)) {
    if (e.components.length || e.addressOf) throw new SemanticError(`${e.name} is a constant here; it has no members or address`, e.tok);
    return bind(ctx, located);
  }
  return lowerLocated(ctx, located, e.components, e.addressOf, e.tok);
}

/**
 * Resolves `$name`, `$name->m[2]`, `$return`, `$argN`, `$$parms` in a uprobe or kprobe handler to
 * a field of the probe's event, adding the fetch argument that captures it.
 */
export function resolveDynamicVar(probe: DerivedProbe, e: A.TargetVar): A.ContextRef {
  return lowerTargetVar(ctxFor(probe, false, e.tok), e);
}

/* ---------- values used as addresses: strings, @cast ---------- */

/** A fetch expression (no type) whose value is `e`'s value, with its C type: the base of a string read or a cast. */
function valueFetch(ctx: Ctx, e: A.Expr, what: string): { fetch: string; type: CType; entry: boolean; label: string } {
  if (e.kind === 'tvar' && !e.name.startsWith('$$') && !e.addressOf) {
    const located = locateVar(ctx, e.name, e.tok);
    if (!('base' in located)) throw fail(ctx, e.name, `${what} needs an address, and ${e.name} is the constant ${located.value} here`, e.tok);
    const { path, text } = memberPath(e.components, located.text);
    const result = fetch(ctx, located, path, 'value', text, e.tok);
    if (result.kind !== 'number') throw fail(ctx, text, `${what} needs an address, and ${text} is ${formatType(result.type)}`, e.tok);
    return { fetch: stripType(result.arg), type: result.type, entry: located.entryValue, label: text };
  }
  if (e.kind === 'call' && (e.name === 'register' || e.name === 'u_register')) {
    const reg = registerOf(ctx, e);
    return { fetch: reg.fetcharg, type: LONG, entry: false, label: `reg_${reg.name}` };
  }
  if (e.kind === 'call' && /^(u?int|u?long|pointer|[su](32|64))_arg$/.test(e.name)) {
    const located = argCall(ctx, e);
    return { fetch: stripType(fetch(ctx, located, '', 'value', located.text, e.tok).arg), type: LONG, entry: located.entryValue, label: located.text };
  }
  if (e.kind === 'cast') {
    const cast = castTarget(ctx, e);
    const { path, text } = memberPath(e.components, cast.text);
    const result = fetch(ctx, cast, path, 'value', text, e.tok);
    if (result.kind !== 'number') throw fail(ctx, text, `${what} needs an address, and ${text} is ${formatType(result.type)}`, e.tok);
    return { fetch: stripType(result.arg), type: result.type, entry: cast.entryValue, label: memberPath(e.components, cast.label ?? cast.text).text };
  }
  throw new SemanticError(
    `${what}: tracefs reads memory only at addresses the probe itself fetches, so the argument must be a context value ($var, $ptr->member, $argN, register("..."), @cast(...)->member), not a computed expression`,
    e.tok);
}

/** `+8(%di):u64` → `+8(%di)`. */
function stripType(arg: string): string {
  const colon = arg.lastIndexOf(':');
  return colon < 0 ? arg : arg.slice(0, colon);
}

function stringOf(ctx: Ctx, call: A.Call): A.ContextRef {
  const user = call.name.startsWith('user_');
  const operand = call.args[0]!;
  if (!user && ctx.site.space === 'user') {
    throw new SemanticError(`${call.name}() reads kernel memory, which a uprobe cannot fetch; use user_string()`, call.tok);
  }
  // A char array (`$p->name` with `char name[16]`) is a string at its own address.
  if (operand.kind === 'tvar' && !operand.name.startsWith('$$') && !operand.addressOf) {
    const located = locateVar(ctx, operand.name, operand.tok);
    if ('base' in located) {
      const { path, text } = memberPath(operand.components, located.text);
      const probeSpace = ctx.site.space === 'user' ? 'uprobe' : 'kernel';
      let value: FetchResult;
      try {
        value = buildFetchArg({ base: located.base, type: located.type, path, probe: probeSpace, mode: 'value' });
      } catch (err) {
        if (err instanceof FetchError) throw fail(ctx, text, inScriptTerms(err.message, located), operand.tok);
        throw err;
      }
      if (value.kind === 'string') {
        const atEntry = ctx.atEntry || located.entryValue;
        return bind({ ...ctx, atEntry }, { kind: 'fetch', name: sanitize(`${text}_str`), arg: value.arg, type: 'string' });
      }
    }
  }
  const base = valueFetch(ctx, operand, `${call.name}()`);
  const t = resolveType(base.type);
  if (t.kind !== 'pointer' && !(t.kind === 'int' && t.size === 8)) {
    throw fail(ctx, `${call.name}(...)`, `its argument is ${formatType(base.type)}, not a pointer`, operand.tok);
  }
  // uprobes read user memory with `string`; kprobes need `ustring` for user addresses.
  const suffix = user && ctx.site.space === 'kernel' ? 'ustring' : 'string';
  const arg = `+0(${base.fetch}):${suffix}`;
  return bind({ ...ctx, atEntry: ctx.atEntry || base.entry }, { kind: 'fetch', name: sanitize(`${base.label}_str`), arg, type: 'string' });
}

/* ---------- registers and addresses ---------- */

function registerOf(ctx: Ctx, call: A.Call): { fetcharg: string; width: 32 | 64; name: string } {
  const arg = call.args[0];
  if (!arg || arg.kind !== 'str') throw new SemanticError(`${call.name}() needs a register name as a literal string, e.g. ${call.name}("ax")`, call.tok);
  const reg = ctx.site.regs.stapRegister(arg.value);
  if (!reg) throw new SemanticError(`${call.name}("${arg.value}"): no such register on ${ctx.site.regs.arch}`, arg.tok);
  return { ...reg, name: arg.value };
}

/**
 * The record field holding the probe's address: the probed instruction at an entry probe; at a
 * return probe the return address, or (read at entry) the function's address, which the return
 * record carries as `__probe_func`.
 */
function probeAddress(ctx: Ctx): Lowered {
  const field = !ctx.site.isReturn ? PROBE_IP_FIELD : ctx.atEntry ? PROBE_FUNC_FIELD : PROBE_RET_IP_FIELD;
  return { kind: 'native', field };
}

function registerCall(ctx: Ctx, call: A.Call): A.ContextRef {
  const reg = registerOf(ctx, call);
  // stap shows the probed instruction's address as ip at a kprobe, and the return address at a return probe.
  if (reg.fetcharg === ctx.site.regs.instructionPointer && reg.width === 64) return bind(ctx, probeAddress(ctx));
  const type = `${call.name === 'u_register' ? 'u' : 's'}${reg.width}`;
  return bind(ctx, { kind: 'fetch', name: sanitize(`${call.name === 'u_register' ? 'ureg' : 'reg'}_${reg.name}`), arg: `${reg.fetcharg}:${type}`, type: 'long' });
}

function addressCall(ctx: Ctx, call: A.Call): A.ContextRef {
  if (call.name === 'uaddr' && ctx.site.space === 'kernel') {
    throw new SemanticError('uaddr() in a kernel probe needs the user registers of the current task, which tracefs cannot fetch', call.tok);
  }
  return bind(ctx, probeAddress(ctx));
}

const ARG_TYPES: Record<string, [number, boolean]> = {
  int_arg: [4, true], uint_arg: [4, false], s32_arg: [4, true], u32_arg: [4, false],
  long_arg: [8, true], s64_arg: [8, true], ulong_arg: [8, false], u64_arg: [8, false], pointer_arg: [8, false],
};

/** `int_arg(n)` and friends: the Nth ABI argument register read as that C type. */
function argCall(ctx: Ctx, call: A.Call): Located {
  const n = call.args[0] && constantIndex(call.args[0]);
  if (n === undefined || n < 1n || n > 64n) throw new SemanticError(`${call.name}() needs a constant argument number from 1`, call.tok);
  if (!ctx.site.atFunctionEntry) {
    throw fail(ctx, `${call.name}(${n})`, 'arguments are only in their ABI registers at a function\'s first instruction', call.tok);
  }
  const values = ctx.site.values();
  if (values.cloned) throw fail(ctx, `${call.name}(${n})`, `${values.missing}; ${values.hint}`, call.tok);
  const [size, signed] = ARG_TYPES[call.name]!;
  const location = ctx.site.regs.entryArgLocation(Number(n) - 1);
  return { base: baseForArgLocation(location), type: intType(size, signed), text: `${call.name}(${n})`, entryValue: ctx.site.isReturn };
}

/**
 * Lowers a context-reading builtin call (see DYNAMIC_CALLS) in a uprobe or kprobe handler to a
 * field. `kernel_string_n`/`user_string_n` are rewritten in place into `substr(<fetched string>, 0, n)`
 * and `print_regs()` into a printf of fetched registers; both return undefined, so the caller binds
 * the rewritten node as usual.
 */
export function lowerDynamicCall(probe: DerivedProbe, call: A.Call): A.ContextRef | undefined {
  return lowerCall(ctxFor(probe, false, call.tok), call);
}

function lowerCall(ctx: Ctx, call: A.Call): A.ContextRef | undefined {
  const arity = (n: number) => {
    if (call.args.length !== n) throw new SemanticError(`function '${call.name}' takes ${n} argument${n === 1 ? '' : 's'}, given ${call.args.length}`, call.tok);
  };
  switch (call.name) {
    case 'kernel_string':
    case 'user_string':
      arity(1);
      return stringOf(ctx, call);
    case 'kernel_string_n':
    case 'user_string_n': {
      arity(2);
      const whole: A.Call = { ...call, name: call.name.replace(/_n$/, ''), args: [call.args[0]!] };
      const ref = stringOf(ctx, whole);
      const fetched: A.TargetVar = { kind: 'tvar', name: `$${whole.name}`, components: [], addressOf: false, ref, type: 'string', tok: call.tok };
      const zero: A.NumberLit = { kind: 'num', value: 0n, tok: call.tok, type: 'long' };
      Object.assign(call, { name: 'substr', args: [fetched, zero, call.args[1]!], target: undefined });
      return undefined;
    }
    case 'register':
    case 'u_register':
      arity(1);
      return registerCall(ctx, call);
    case 'addr':
    case 'uaddr':
      arity(0);
      return addressCall(ctx, call);
    case 'print_regs': {
      // Rewritten in place into a printf of every register, each fetched at the hit.
      arity(0);
      const { format, registers } = ctx.site.regs.registerDump;
      const args = registers.map((name): A.TargetVar => {
        const str: A.StringLit = { kind: 'str', value: name, tok: call.tok };
        const ref = registerCall(ctx, { kind: 'call', name: 'register', args: [str], tok: call.tok });
        return { kind: 'tvar', name: `$register`, components: [], addressOf: false, ref, type: 'long', tok: call.tok };
      });
      Object.assign(call, { kind: 'print', fn: 'printf', format, args });
      return undefined;
    }
    case 'returnval': {
      arity(0);
      if (!ctx.site.isReturn || ctx.atEntry) throw new SemanticError('returnval() is only available in .return probes', call.tok);
      return bind(ctx, { kind: 'fetch', name: 'ret', arg: `${ctx.site.regs.returnRegister}:s64`, type: 'long' });
    }
    default: {
      if (call.name in ARG_TYPES) {
        arity(1);
        const located = argCall(ctx, call);
        return lowerLocated(ctx, located, [], false, call.tok);
      }
      return undefined;
    }
  }
}

/* ---------- @cast ---------- */

/** The pointer a `@cast(p, "type"[, "module"])` reinterprets, as a located value of type `type *`. */
function castTarget(ctx: Ctx, e: A.Cast): Located {
  if (!e.typeName) throw new SemanticError('an autocast needs the operand\'s C type, which tstap does not track; write @cast(p, "struct name")', e.tok);
  const operand = valueFetch(ctx, e.operand, `@cast(..., "${e.typeName}")`);
  const type = lookupType(ctx.site, e.typeName, e.module, e.tok);
  return {
    base: { kind: 'value', arg: operand.fetch },
    type: pointerTo(type),
    text: `@cast(${e.operand.kind === 'tvar' ? e.operand.name : 'p'}, "${e.typeName}")`,
    label: e.typeName.replace(/^\s*(struct|union|enum)\s+/, ''),
    entryValue: operand.entry,
  };
}

/** Where a cast's type is looked up by default: the probe's space, module or object file. */
type TypeHome = Pick<Site, 'space' | 'module' | 'elf'>;

function lookupType(home: TypeHome, typeName: string, module: string | undefined, tok: A.Expr['tok']): CType {
  const spelled = typeName.trim().replace(/\s+/g, ' ');
  const m = /^(struct|union|enum)? ?([A-Za-z_]\w*)$/.exec(spelled);
  if (!m) throw new SemanticError(`@cast type "${typeName}": give a struct, union, enum or typedef name`, tok);
  const [, tag, name] = m;
  if (module?.trim().startsWith('<')) {
    throw new SemanticError(`@cast type "${typeName}" from the header ${module}: stap builds a module to learn a header's types; tstap reads types only from kernel BTF and DWARF (name a binary built with -g)`, tok);
  }
  const kind = tag === 'union' ? 'union' : tag === 'enum' ? 'enum' : tag === 'struct' ? 'struct' : undefined;
  const kernel = module === 'kernel' || (module === undefined && home.space === 'kernel') || (module !== undefined && !module.includes('/') && home.space === 'kernel');
  try {
    if (kernel) {
      const btf = module && module !== 'kernel' ? loadModuleBtf(module) : home.module ? loadModuleBtf(home.module) : loadKernelBtf();
      const found = kind === 'union' ? btf.findUnion(name!) : kind === 'enum' ? btf.findEnum(name!) : kind === 'struct' ? btf.findStruct(name!)
        : btf.findStruct(name!) ?? btf.findTypedef(name!) ?? btf.findUnion(name!);
      if (found) return found;
      throw new Error(`BTF has no type ${spelled}`);
    }
    const elf = module ? readElf(module) : home.elf;
    if (!elf) throw new Error('no object file to read types from');
    const dwarf = readDwarf(elf);
    const found = kind ? dwarf.findType(name!, kind) : dwarf.findType(name!, 'struct') ?? dwarf.findType(name!);
    if (found) return found;
    throw new Error(`the debug info of ${elf.path} has no type ${spelled}`);
  } catch (err) {
    throw new SemanticError(`@cast type "${typeName}": ${(err as Error).message}`, tok);
  }
}

/**
 * `&@cast(N, "type")->member` and `&@cast(N, "type")[i]` with a constant N: an address computed
 * from the type's layout alone, in any probe (stap's @offsetof and @cast_sizeof are written so).
 * Undefined when the expression is not of that form; an error when it would need a memory read.
 */
export function castConstantAddress(e: A.Cast, probe: DerivedProbe | undefined): bigint | undefined {
  const base = constantIndex(e.operand);
  if (!e.addressOf || !e.typeName || e.components.length === 0 || base === undefined) return undefined;
  const site = probe && (probe.point.kind === 'uprobe' || probe.point.kind === 'kprobe') ? siteOf(probe.point) : undefined;
  const text = `&@cast(${base}, "${e.typeName}")`;
  const refuse = (what: string, tok: A.Expr['tok']) => new SemanticError(`${text}: ${what}; only offsets within one object can be computed without reading memory`, tok);
  let address = base;
  let current: CType = pointerTo(lookupType(site ?? { space: 'kernel' }, e.typeName, e.module, e.tok));
  // The first step goes through the cast pointer, whose value is the constant; later ones stay inside the object.
  let throughPointer = true;
  for (const c of e.components) {
    const t = resolveType(current);
    if (c.kind === 'pretty') return undefined;
    if (c.kind === 'index') {
      const i = constantIndex(c.index);
      if (i === undefined) throw new SemanticError(`${text}: an index must be a constant number`, c.tok);
      const element = t.kind === 'pointer' && throughPointer ? t.target : t.kind === 'array' ? t.element : undefined;
      if (!element) throw refuse(`indexing ${formatType(current)} follows a pointer`, c.tok);
      address += i * BigInt(resolveType(element).size);
      current = element;
    } else {
      const record = t.kind === 'pointer' && throughPointer ? t.target : t.kind === 'struct' || t.kind === 'union' ? t : undefined;
      if (!record) throw refuse(`->${c.name} follows the pointer ${formatType(current)}`, c.tok);
      const member = findMember(record, c.name);
      if (!member) throw new SemanticError(`${text}: ${formatType(record)} has no member '${c.name}'`, c.tok);
      if (member.bitSize !== 0) throw new SemanticError(`${text}->${c.name} is a bitfield, which has no address`, c.tok);
      address += BigInt(member.bitOffset / 8);
      current = member.type;
    }
    throughPointer = false;
  }
  return BigInt.asIntN(64, address);
}

/** Lowers `@cast(p, "type"[, "module"])->member...` in a uprobe or kprobe handler to a field. */
export function lowerCast(probe: DerivedProbe, e: A.Cast): A.ContextRef {
  return castIn(ctxFor(probe, false, e.tok), e);
}

function castIn(ctx: Ctx, e: A.Cast): A.ContextRef {
  const target = castTarget(ctx, e);
  if (e.components.length === 0 && !e.addressOf) {
    // The cast pointer itself: its value is the operand's.
    return bind({ ...ctx, atEntry: ctx.atEntry || target.entryValue }, {
      kind: 'fetch', name: sanitize(target.label ?? target.text), arg: `${target.base.kind === 'value' ? target.base.arg : ''}:x64`, type: 'long',
    });
  }
  return lowerLocated(ctx, target, e.components, e.addressOf, e.tok);
}

/* ---------- @entry ---------- */

/**
 * `@entry(expr)` in a return probe: rewrites `e` in place into `expr`, with every context value
 * inside it captured by the companion entry probe. The caller then binds the rewritten node as
 * usual (it may be a call or an operator over the captured values).
 */
export function lowerEntry(probe: DerivedProbe, e: A.Entry): void {
  const ctx = ctxFor(probe, true, e.tok);
  if (!ctx.site.isReturn) throw new SemanticError(`@entry() is only meaningful in .return probes (${ctx.site.what} is an entry probe)`, e.tok);
  const operand = e.operand;
  walkExpr(operand, {
    expr: (x) => {
      switch (x.kind) {
        case 'tvar':
          if (!x.ref) {
            x.ref = lowerTargetVar(ctx, x);
            x.type = refType(x.ref);
          }
          break;
        case 'call':
          if (DYNAMIC_CALLS.has(x.name)) {
            const ref = lowerCall(ctx, x);
            if (ref) Object.assign(x, { kind: 'tvar', name: `$${x.name}`, components: [], addressOf: false, ref, type: refType(ref) });
          }
          break;
        case 'cast': {
          const ref = castIn(ctx, x);
          Object.assign(x, { kind: 'tvar', name: '@cast', components: [], addressOf: false, ref, type: refType(ref) });
          break;
        }
        case 'entry':
          lowerEntry(probe, x);
          break;
        case 'sym': case 'index': case 'assign': case 'crement':
          throw new SemanticError('@entry() captures context values ($vars, register(), ...) at entry; script variables cannot be captured there', x.tok);
      }
    },
  });
  for (const key of Object.keys(e)) delete (e as unknown as Record<string, unknown>)[key];
  Object.assign(e, operand);
}
