/**
 * Evaluates the condition of a `%( COND %? ... %: ... %)` preprocessor conditional against the
 * target system: kernel version, architecture, kernel config, stap version and privileges.
 */
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { release, arch as osArch } from 'node:os';
import type { Token } from '../lexer/lexer.js';
import { ParseError } from '../diagnostics/diagnostics.js';
import { globToRegExp } from '../glob.js';

/** What the conditions can test. Filled from the running system by `systemContext()`. */
export interface PreprocessorContext {
  kernelV: string;
  kernelVR: string;
  arch: string;
  systemtapV: string;
  privilege: string;
  guru: boolean;
  runtime: string;
  /** Lazily read kernel config (CONFIG_X -> "y"/"m"/value). */
  config(): Map<string, string>;
  /** Script arguments for `$1`/`@1`/`$#`. */
  args: string[];
}

/** The stap release whose language and tapset conventions tstap follows. */
export const SYSTEMTAP_VERSION = '5.1';

let configCache: Map<string, string> | undefined;

function readKernelConfig(): Map<string, string> {
  if (configCache) return configCache;
  const map = new Map<string, string>();
  let text = '';
  try {
    text = gunzipSync(readFileSync('/proc/config.gz')).toString('latin1');
  } catch {
    try { text = readFileSync(`/boot/config-${release()}`, 'latin1'); } catch { /* no config: every CONFIG_ is "" */ }
  }
  for (const line of text.split('\n')) {
    const m = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (m) map.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'));
  }
  configCache = map;
  return map;
}

function machineArch(): string {
  const a = osArch();
  return a === 'x64' ? 'x86_64' : a === 'arm64' ? 'arm64' : a === 'ia32' ? 'i386' : a;
}

export function systemContext(opts: { args?: string[]; guru?: boolean; kernelRelease?: string } = {}): PreprocessorContext {
  const vr = opts.kernelRelease ?? release();
  const v = /^[0-9]+(\.[0-9]+)*/.exec(vr)?.[0] ?? vr;
  return {
    kernelV: v,
    kernelVR: vr,
    arch: machineArch(),
    systemtapV: SYSTEMTAP_VERSION,
    privilege: 'stapdev',
    guru: opts.guru ?? false,
    runtime: 'kernel',
    config: readKernelConfig,
    args: opts.args ?? [],
  };
}

/** glibc strverscmp semantics, enough for version strings: digit runs compare numerically. */
export function strverscmp(a: string, b: string): number {
  const re = /(\d+|\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!, y = pb[i]!;
    const dx = /^\d/.test(x), dy = /^\d/.test(y);
    if (dx && dy) {
      const d = BigInt(x) - BigInt(y);
      if (d !== 0n) return d < 0n ? -1 : 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return pa.length - pb.length;
}

/** fnmatch(3) for `==`/`!=` against patterns such as `"6.*"` or `"i?86"`. */
export function fnmatch(pattern: string, s: string): boolean {
  return globToRegExp(pattern).test(s);
}

type Value = { kind: 'string'; value: string; tok: Token } | { kind: 'number'; value: bigint; tok: Token };

const COMPARATORS = new Set(['==', '!=', '<', '<=', '>', '>=']);

function compareResult(op: string, cmp: number): boolean {
  switch (op) {
    case '==': return cmp === 0;
    case '!=': return cmp !== 0;
    case '<': return cmp < 0;
    case '<=': return cmp <= 0;
    case '>': return cmp > 0;
    default: return cmp >= 0;
  }
}

/** Evaluate COND := AND ('||' AND)* ; AND := CMP ('&&' CMP)* (no parentheses, as in stap). */
export function evaluateCondition(tokens: Token[], ctx: PreprocessorContext, start: Token): boolean {
  let i = 0;
  const peek = () => tokens[i];
  const fail = (msg: string): never => {
    throw new ParseError(msg, tokens[i] ?? tokens[tokens.length - 1] ?? start);
  };

  const literal = (): Value => {
    const t = tokens[i];
    if (!t) return fail('expected literal string or number');
    if (t.kind === 'identifier' && t.text.startsWith('CONFIG_')) {
      // `CONFIG_A >= CONFIG_B`: the right side is another option's value.
      i++;
      const v = ctx.config().get(t.text) ?? '';
      return /^-?[0-9]+$/.test(v) ? { kind: 'number', value: BigInt(v), tok: t } : { kind: 'string', value: v, tok: t };
    }
    if (t.kind === 'string') { i++; return { kind: 'string', value: t.text, tok: t }; }
    let neg = false;
    if (t.kind === 'operator' && t.text === '-' && tokens[i + 1]?.kind === 'number') { neg = true; i++; }
    const n = tokens[i]!;
    if (n.kind === 'number') {
      i++;
      const v = BigInt(n.text.startsWith('0') && n.text.length > 1 && !/^0[xX]/.test(n.text) ? '0o' + n.text.slice(1) : n.text);
      return { kind: 'number', value: neg ? -v : v, tok: n };
    }
    return fail('expected literal string or number');
  };

  const comparison = (): boolean => {
    const t = peek();
    if (!t) return fail('incomplete conditional');
    let op: string;
    if (t.kind === 'identifier' || t.kind === 'keyword') {
      i++;
      const o = peek();
      if (!o || o.kind !== 'operator' || !COMPARATORS.has(o.text)) return fail('expected comparison operator');
      op = o.text; i++;
      const rhs = literal();
      return testVariable(t, op, rhs);
    }
    const lhs = literal();
    const o = peek();
    if (!o || o.kind !== 'operator' || !COMPARATORS.has(o.text)) return fail('expected comparison operator');
    op = o.text; i++;
    const rhs = literal();
    if (lhs.kind !== rhs.kind) throw new ParseError('expected matching literal types', rhs.tok);
    const cmp = lhs.kind === 'number'
      ? (lhs.value < (rhs.value as bigint) ? -1 : lhs.value > (rhs.value as bigint) ? 1 : 0)
      : (lhs.value < (rhs.value as string) ? -1 : lhs.value > (rhs.value as string) ? 1 : 0);
    return compareResult(op, cmp);
  };

  const testVariable = (name: Token, op: string, rhs: Value): boolean => {
    const n = name.text;
    const needString = (): string => {
      if (rhs.kind !== 'string') throw new ParseError('expected string literal as right value', rhs.tok);
      return rhs.value;
    };
    const versionTest = (actual: string): boolean => {
      const want = needString();
      if ((op === '==' || op === '!=') && /[*?[]/.test(want)) return fnmatch(want, actual) === (op === '==');
      return compareResult(op, strverscmp(actual, want));
    };
    const stringTest = (actual: string): boolean => {
      const want = needString();
      if (op === '==' || op === '!=') return fnmatch(want, actual) === (op === '==');
      return compareResult(op, actual < want ? -1 : actual > want ? 1 : 0);
    };
    switch (n) {
      case 'kernel_v': return versionTest(ctx.kernelV);
      case 'kernel_vr': return versionTest(ctx.kernelVR);
      case 'systemtap_v': return versionTest(ctx.systemtapV);
      case 'arch': return stringTest(ctx.arch);
      case 'runtime': return stringTest(ctx.runtime);
      case 'systemtap_privilege': return stringTest(ctx.privilege);
      case 'guru_mode': {
        if (rhs.kind !== 'number') throw new ParseError('expected number literal as right value', rhs.tok);
        const g = ctx.guru ? 1n : 0n;
        return compareResult(op, g < rhs.value ? -1 : g > rhs.value ? 1 : 0);
      }
    }
    if (n.startsWith('CONFIG_')) {
      const actual = ctx.config().get(n) ?? '';
      if (rhs.kind === 'number') {
        const a = /^-?(0x[0-9a-f]+|\d+)$/i.test(actual) ? BigInt(actual) : 0n;
        return compareResult(op, a < rhs.value ? -1 : a > rhs.value ? 1 : 0);
      }
      return stringTest(actual);
    }
    throw new ParseError('expected \'arch\', \'kernel_v\', \'kernel_vr\', \'systemtap_v\', \'systemtap_privilege\', \'guru_mode\', \'runtime\' or \'CONFIG_...\'', name);
  };

  const isOp = (text: string) => { const t = peek(); return !!t && t.kind === 'operator' && t.text === text; };

  let result = false;
  for (;;) {
    let conj = comparison();
    while (isOp('&&')) { i++; conj = comparison() && conj; }
    result = result || conj;
    if (isOp('||')) { i++; continue; }
    break;
  }
  if (i < tokens.length) fail('expected \'%?\' marker for conditional');
  return result;
}
