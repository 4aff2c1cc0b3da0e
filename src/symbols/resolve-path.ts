/**
 * Turns the file named in `process("...")` / `.library("...")` into the real path of an ELF file,
 * like a shell (PATH search) or the dynamic loader (ld.so.cache, then the standard library
 * directories) would, with globs. Results are realpath'd because uprobes attach to inodes.
 */

import { accessSync, constants, closeSync, openSync, readdirSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { globToRegExp, hasGlob } from '../glob.js';

export class ResolveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResolveError';
  }
}

export interface ResolveOptions {
  /** Directory that relative paths are resolved against (default: process.cwd()). */
  cwd?: string;
  /** PATH-style list for executables (default: $PATH). */
  path?: string;
  /** Extra library directories searched first (default: $LD_LIBRARY_PATH). */
  ldLibraryPath?: string;
  /** ld.so.cache location (default /etc/ld.so.cache); set to '' to skip the cache. */
  ldCachePath?: string;
  /** Library directories walked after the cache (default: the standard multiarch and lib64 dirs). */
  libraryDirs?: readonly string[];
  /** ELF e_machine a library must have (default: this machine's). */
  machine?: number;
}

export const STANDARD_LIBRARY_DIRS: readonly string[] = [
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
  '/lib64',
  '/usr/lib64',
  '/lib',
  '/usr/lib',
];

const EM_X86_64 = 62;
const EM_AARCH64 = 183;

function hostMachine(): number {
  return process.arch === 'arm64' ? EM_AARCH64 : EM_X86_64;
}

/* ---------- /etc/ld.so.cache ---------- */

export interface LdCacheEntry {
  /** The key ld.so looks up: usually the soname, e.g. "libc.so.6". */
  readonly name: string;
  readonly path: string;
  readonly flags: number;
  /** ELF e_machine the entry is for, when the flags say (undefined for generic/32-bit entries). */
  readonly machine: number | undefined;
}

const OLD_CACHE_MAGIC = 'ld.so-1.7.0';
const NEW_CACHE_MAGIC = 'glibc-ld.so.cache1.1';
const FLAG_ELF_LIBC6 = 0x0003;
/** ldconfig's required-arch flag values (FLAG_*_LIB64 in glibc's ldconfig.h). */
const CACHE_ARCH_FLAGS = new Map<number, number>([
  [0x0300, EM_X86_64],
  [0x0a00, EM_AARCH64],
]);

/** Parses ld.so.cache (the glibc "new" format, alone or after the old-format table). */
export function readLdSoCache(path = '/etc/ld.so.cache'): LdCacheEntry[] {
  const data = readFileSync(path);
  let start = 0;
  if (data.toString('latin1', 0, OLD_CACHE_MAGIC.length) === OLD_CACHE_MAGIC) {
    const oldCount = data.readUInt32LE(12);
    // The new-format table follows the old entries (12 bytes each), 8-byte aligned.
    start = (16 + oldCount * 12 + 7) & ~7;
  }
  if (data.toString('latin1', start, start + NEW_CACHE_MAGIC.length) !== NEW_CACHE_MAGIC) {
    throw new ResolveError(`${path}: not a glibc ld.so.cache (new format) file`);
  }
  const count = data.readUInt32LE(start + 20);
  const entriesStart = start + 48;
  if (entriesStart + count * 24 > data.length) throw new ResolveError(`${path}: truncated cache`);
  const str = (offset: number) => {
    const at = start + offset;
    const end = data.indexOf(0, at);
    return data.toString('utf8', at, end < 0 ? data.length : end);
  };
  const out: LdCacheEntry[] = [];
  for (let i = 0; i < count; i++) {
    const o = entriesStart + i * 24;
    const flags = data.readInt32LE(o);
    out.push({
      name: str(data.readUInt32LE(o + 4)),
      path: str(data.readUInt32LE(o + 8)),
      flags,
      machine: CACHE_ARCH_FLAGS.get(flags & 0xff00),
    });
  }
  return out;
}

/* ---------- ELF sniffing ---------- */

/** True if the file is a 64-bit little-endian ELF for `machine`, without parsing the rest. */
function isElfFor(path: string, machine: number): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(20);
    if (readSync(fd, head, 0, 20, 0) < 20) return false;
    return head.readUInt32LE(0) === 0x464c457f && head[4] === 2 && head[5] === 1 && head.readUInt16LE(18) === machine;
  } finally {
    closeSync(fd);
  }
}

function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isExecutableFile(path: string): boolean {
  if (!isRegularFile(path)) return false;
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/* ---------- executables ---------- */

/**
 * Resolves a program name like a shell: names containing `/` are paths (relative to cwd), bare
 * names are searched in PATH. Returns the realpath.
 */
export function resolveExecutable(name: string, options: ResolveOptions = {}): string {
  if (name === '') throw new ResolveError('empty executable name');
  const cwd = options.cwd ?? process.cwd();
  if (name.includes('/')) {
    const full = isAbsolute(name) ? name : resolve(cwd, name);
    if (!isRegularFile(full)) throw new ResolveError(`no such file: ${full}`);
    return realpathSync(full);
  }
  const searchPath = options.path ?? process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin';
  for (const dir of searchPath.split(':')) {
    // An empty PATH element means the current directory, as in POSIX shells.
    const candidate = resolve(cwd, dir === '' ? '.' : dir, name);
    if (isExecutableFile(candidate)) return realpathSync(candidate);
  }
  throw new ResolveError(`cannot find executable '${name}' in PATH`);
}

/* ---------- libraries ---------- */

/** Matches a library file name against a spec: a glob, an exact name, or a bare stem like "libc". */
export function libraryNameMatcher(name: string): (fileName: string) => boolean {
  if (hasGlob(name)) {
    const re = globToRegExp(name, { pathMode: true });
    return (f) => re.test(f);
  }
  // A bare stem ("libc", "libssl") means any of its sonames/versions.
  if (!/\.so(\.|$)/.test(name)) return (f) => f === `${name}.so` || f.startsWith(`${name}.so.`);
  return (f) => f === name;
}

/** Orders "libfoo.so.1.10" after "libfoo.so.1.9": higher versions sort first. */
function compareVersionsDescending(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    if (x === y) continue;
    const nx = Number(x);
    const ny = Number(y);
    if (x !== '' && y !== '' && Number.isInteger(nx) && Number.isInteger(ny)) return ny - nx;
    return x < y ? 1 : -1;
  }
  return 0;
}

/**
 * All distinct real files a library name can mean, most preferred first: `libc.so.6` (exact
 * name), `libc` (any `libc.so*`) or a glob (`libssl.so.*`). Search order: LD_LIBRARY_PATH,
 * ld.so.cache, then the standard library directories. Only ELF files for the target machine count.
 */
export function findLibraries(name: string, options: ResolveOptions = {}): string[] {
  if (name.includes('/')) return resolveProcessPaths(name, options);
  const machine = options.machine ?? hostMachine();
  const matches = libraryNameMatcher(name);
  const found: string[] = [];
  const seen = new Set<string>();
  const consider = (path: string) => {
    if (!isRegularFile(path) || !isElfFor(path, machine)) return;
    const real = realpathSync(path);
    if (seen.has(real)) return;
    seen.add(real);
    found.push(real);
  };
  const scanDirs = (dirs: readonly string[]) => {
    for (const dir of dirs) {
      let entries: string[];
      try {
        entries = readdirSync(dir);
      } catch {
        continue;
      }
      for (const f of entries.filter(matches).sort(compareVersionsDescending)) consider(join(dir, f));
    }
  };

  const ldLibraryPath = options.ldLibraryPath ?? process.env['LD_LIBRARY_PATH'] ?? '';
  scanDirs(ldLibraryPath.split(':').filter((d) => d !== ''));

  const cachePath = options.ldCachePath ?? '/etc/ld.so.cache';
  if (cachePath !== '') {
    let cache: LdCacheEntry[] = [];
    try {
      cache = readLdSoCache(cachePath);
    } catch (err) {
      // A missing or foreign cache is not fatal: the directory walk below still runs.
      if (!(err instanceof ResolveError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const hits = cache
      .filter((e) => (e.flags & 0xff) === FLAG_ELF_LIBC6 && (e.machine === undefined || e.machine === machine))
      .filter((e) => matches(e.name))
      .sort((a, b) => compareVersionsDescending(a.name, b.name));
    for (const e of hits) consider(e.path);
  }

  scanDirs(options.libraryDirs ?? STANDARD_LIBRARY_DIRS);
  return found;
}

/** The preferred real file for a library name (see findLibraries); errors when there is none. */
export function resolveLibrary(name: string, options: ResolveOptions = {}): string {
  const found = findLibraries(name, options);
  if (found.length === 0) throw new ResolveError(`cannot find library '${name}' (searched LD_LIBRARY_PATH, ld.so.cache and the standard library directories)`);
  return found[0]!;
}

/* ---------- process("...") ---------- */

function looksLikeLibrary(name: string): boolean {
  return /\.so(\.|$)/.test(name);
}

/**
 * Resolves a non-glob `process("...")` argument to one real file: a path, a program in PATH, or
 * (for names like `libc.so.6`) a shared library.
 */
export function resolveProcessPath(spec: string, options: ResolveOptions = {}): string {
  if (hasGlob(spec)) {
    const all = resolveProcessPaths(spec, options);
    if (all.length !== 1) throw new ResolveError(`'${spec}' matches ${all.length} files, expected exactly one`);
    return all[0]!;
  }
  if (spec.includes('/') || !looksLikeLibrary(spec)) {
    try {
      return resolveExecutable(spec, options);
    } catch (err) {
      if (spec.includes('/') || !(err instanceof ResolveError)) throw err;
    }
  }
  try {
    return resolveLibrary(spec, options);
  } catch (err) {
    if (err instanceof ResolveError) throw new ResolveError(`cannot find '${spec}' in PATH or the library search path`);
    throw err;
  }
}

/**
 * Resolves a `process("...")` argument that may contain globs in any path component
 * (`/usr/lib/*\/libc.so*`) or, without a `/`, a library-name glob. Returns distinct real ELF files
 * for the target machine, sorted; non-glob specs give exactly one file.
 */
export function resolveProcessPaths(spec: string, options: ResolveOptions = {}): string[] {
  if (!hasGlob(spec)) return [resolveProcessPath(spec, options)];
  if (!spec.includes('/')) return findLibraries(spec, options);
  const cwd = options.cwd ?? process.cwd();
  const absolute = isAbsolute(spec) ? spec : resolve(cwd, spec);
  const parts = absolute.split('/').filter((p) => p !== '');
  let current = ['/'];
  for (const part of parts) {
    const next: string[] = [];
    for (const dir of current) {
      if (!hasGlob(part)) {
        next.push(join(dir, part));
        continue;
      }
      const re = globToRegExp(part, { pathMode: true });
      let entries: string[];
      try {
        entries = readdirSync(dir);
      } catch {
        continue;
      }
      // Like a shell, wildcards do not match dotfiles unless the pattern starts with a dot.
      for (const e of entries) if (re.test(e) && (part.startsWith('.') || !e.startsWith('.'))) next.push(join(dir, e));
    }
    current = next;
  }
  // Globs pick up linker scripts such as libc.so; only ELF files for the machine can be probed.
  const machine = options.machine ?? hostMachine();
  const real = new Set<string>();
  for (const p of current) if (isRegularFile(p) && isElfFor(p, machine)) real.add(realpathSync(p));
  return [...real].sort();
}
