/**
 * Kernel function and symbol names: which functions tracing can attach to (tracefs
 * `available_filter_functions`, lines optionally suffixed `[module]`) and address → symbol lookup
 * from /proc/kallsyms for symbolising kernel stack traces, plus stap-glob matching of names.
 */

import { existsSync, readFileSync } from 'node:fs';
import { globToRegExp, hasGlob } from '../glob.js';

export class KallsymsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KallsymsError';
  }
}

export interface KernelFunction {
  readonly name: string;
  /** Module name for functions in loadable modules; undefined for vmlinux. */
  readonly module: string | undefined;
}

export interface KernelSymbol {
  /** 0n for every symbol when kptr_restrict hides addresses (non-root readers). */
  readonly address: bigint;
  /** nm-style type letter: T/t text, D/d data, R/r rodata, B/b bss, W/w weak... */
  readonly type: string;
  readonly name: string;
  readonly module: string | undefined;
}

/** The tracefs mount point: /sys/kernel/tracing, or the legacy debugfs location. */
export function tracefsDir(): string {
  for (const dir of ['/sys/kernel/tracing', '/sys/kernel/debug/tracing']) {
    if (existsSync(`${dir}/README`)) return dir;
  }
  throw new KallsymsError('tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)');
}

/** Parses `name` / `name [module]` lines. */
export function parseFilterFunctions(text: string): KernelFunction[] {
  const out: KernelFunction[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const space = line.indexOf(' ');
    if (space < 0) {
      out.push({ name: line, module: undefined });
      continue;
    }
    const rest = line.slice(space + 1).trim();
    const module = rest.startsWith('[') && rest.endsWith(']') ? rest.slice(1, -1) : undefined;
    out.push({ name: line.slice(0, space), module });
  }
  return out;
}

/** Reads tracefs `available_filter_functions`: the functions ftrace-based probes can attach to. */
export function readAvailableFilterFunctions(dir: string = tracefsDir()): KernelFunction[] {
  const path = `${dir}/available_filter_functions`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KallsymsError(`cannot read ${path}: ${code ?? (err as Error).message}`);
  }
  return parseFilterFunctions(text);
}

export class Kallsyms {
  /** Symbols in file order. */
  readonly symbols: readonly KernelSymbol[];
  /** False when every address reads as zero (kptr_restrict, or not root). */
  readonly addressesAvailable: boolean;
  #byName?: Map<string, KernelSymbol[]>;
  #byAddress?: KernelSymbol[];

  private constructor(symbols: KernelSymbol[]) {
    this.symbols = symbols;
    this.addressesAvailable = symbols.some((s) => s.address !== 0n);
  }

  /** Parses /proc/kallsyms text: `ffffffff81000000 T _stext` or `... t name\t[module]`. */
  static parse(text: string): Kallsyms {
    const symbols: KernelSymbol[] = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const firstSpace = line.indexOf(' ');
      const secondSpace = line.indexOf(' ', firstSpace + 1);
      if (firstSpace < 0 || secondSpace < 0) continue;
      const tab = line.indexOf('\t', secondSpace + 1);
      const name = tab < 0 ? line.slice(secondSpace + 1) : line.slice(secondSpace + 1, tab);
      let module: string | undefined;
      if (tab >= 0) {
        const m = line.slice(tab + 1).trim();
        module = m.startsWith('[') && m.endsWith(']') ? m.slice(1, -1) : undefined;
      }
      symbols.push({
        address: BigInt(`0x${line.slice(0, firstSpace)}`),
        type: line.slice(firstSpace + 1, secondSpace),
        name,
        module,
      });
    }
    return new Kallsyms(symbols);
  }

  static load(path = '/proc/kallsyms'): Kallsyms {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new KallsymsError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return Kallsyms.parse(text);
  }

  /** All symbols with this exact name (static functions can repeat). */
  lookup(name: string): KernelSymbol[] {
    if (!this.#byName) {
      const map = new Map<string, KernelSymbol[]>();
      for (const s of this.symbols) {
        const list = map.get(s.name);
        if (list) list.push(s);
        else map.set(s.name, [s]);
      }
      this.#byName = map;
    }
    return this.#byName.get(name) ?? [];
  }

  /** Text (function) symbols, optionally only one module's ('vmlinux' selects the core kernel). */
  functions(module?: string): KernelFunction[] {
    return this.symbols
      .filter((s) => /^[tTwW]$/.test(s.type))
      .filter((s) => module === undefined || (module === 'vmlinux' ? s.module === undefined : s.module === module))
      .map((s) => ({ name: s.name, module: s.module }));
  }

  /**
   * The symbol containing `address` and the offset into it. The size is the distance to the next
   * symbol, as the kernel's own `sym+off/size` output computes it.
   */
  symbolize(address: bigint): { symbol: KernelSymbol; offset: bigint; size: bigint | undefined } | undefined {
    if (!this.addressesAvailable) throw new KallsymsError('kernel symbol addresses are hidden (kptr_restrict or not root): cannot symbolise');
    if (!this.#byAddress) {
      // Already nearly sorted (vmlinux first, then modules), so this sort is cheap.
      this.#byAddress = this.symbols.filter((s) => s.address !== 0n).sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    }
    const list = this.#byAddress;
    let lo = 0;
    let hi = list.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.address <= address) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best < 0) return undefined;
    const symbol = list[best]!;
    let next = best + 1;
    while (next < list.length && list[next]!.address === symbol.address) next++;
    const size = next < list.length ? list[next]!.address - symbol.address : undefined;
    if (size !== undefined && address >= symbol.address + size) return undefined;
    return { symbol, offset: address - symbol.address, size };
  }

  /** `name+0x1a/0x80 [module]`, or the hex address when nothing contains it. */
  format(address: bigint): string {
    const hit = this.symbolize(address);
    if (!hit) return `0x${address.toString(16)}`;
    const size = hit.size === undefined ? '' : `/0x${hit.size.toString(16)}`;
    const module = hit.symbol.module ? ` [${hit.symbol.module}]` : '';
    return `${hit.symbol.name}+0x${hit.offset.toString(16)}${size}${module}`;
  }
}

export interface KernelFunctionList {
  readonly source: 'available_filter_functions' | 'kallsyms';
  readonly functions: readonly KernelFunction[];
  /** Why the preferred source was not used. */
  readonly fallbackReason?: string;
}

/**
 * Kernel functions that can be probed: tracefs `available_filter_functions` when readable,
 * otherwise the text symbols of /proc/kallsyms (a superset: it includes notrace functions).
 */
export function listKernelFunctions(options: { tracefs?: string; kallsymsPath?: string } = {}): KernelFunctionList {
  const useDefaults = options.tracefs === undefined && options.kallsymsPath === undefined;
  if (useDefaults && defaultFunctionList) return defaultFunctionList;
  let list: KernelFunctionList;
  try {
    list = { source: 'available_filter_functions', functions: readAvailableFilterFunctions(options.tracefs ?? tracefsDir()) };
  } catch (err) {
    if (!(err instanceof KallsymsError)) throw err;
    list = { source: 'kallsyms', functions: Kallsyms.load(options.kallsymsPath).functions(), fallbackReason: err.message };
  }
  // The running kernel's list only changes when modules load; one read per tstap run is enough.
  if (useDefaults) defaultFunctionList = list;
  return list;
}

let defaultFunctionList: KernelFunctionList | undefined;

/**
 * Functions whose name matches a stap glob (`vfs_*`, `sys_[rw]*`), optionally within one module
 * ('vmlinux' for the core kernel). Names are deduplicated per module; results keep list order.
 */
export function matchKernelFunctions(
  pattern: string,
  options: { module?: string; functions?: readonly KernelFunction[] } = {},
): KernelFunction[] {
  const functions = options.functions ?? listKernelFunctions().functions;
  const test = hasGlob(pattern) ? ((re: RegExp) => (s: string) => re.test(s))(globToRegExp(pattern)) : (s: string) => s === pattern;
  const moduleTest = (m: string | undefined) =>
    options.module === undefined ? true : options.module === 'vmlinux' ? m === undefined : hasGlob(options.module) ? m !== undefined && globToRegExp(options.module).test(m) : m === options.module;
  const seen = new Set<string>();
  const out: KernelFunction[] = [];
  for (const f of functions) {
    if (!test(f.name) || !moduleTest(f.module)) continue;
    const key = `${f.module ?? ''}\0${f.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(f);
  }
  return out;
}
