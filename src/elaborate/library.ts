/**
 * Finding and parsing the tapset library: the built-in `tapsets/` directory plus every `-I DIR`,
 * searched like stap (runtime, kernel-version and architecture subdirectories; `.stpm` macro
 * files before `.stp` files; a file name seen once is not read again). `.h` files there declare
 * kernel functions BTF does not describe.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PreprocessorContext } from '../preprocessor/conditions.js';
import type { MacroTable } from '../preprocessor/preprocess.js';
import { collectMacros, parseSource } from '../parser/parse-source.js';
import type { ParseError } from '../diagnostics/diagnostics.js';
import type { StapFile } from '../parser/ast.js';
import { globMatch } from '../glob.js';
import { parseDeclarations, type CDeclaration } from '../symbols/c-declarations.js';

/** The tapsets shipped with tstap (this file lives in dist/src/elaborate or src/elaborate). */
export function builtinTapsetDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  for (const up of ['../tapsets', '../../tapsets', '../../../tapsets']) {
    const dir = join(here, up);
    try { if (statSync(dir).isDirectory()) return dir; } catch { /* try the next layout */ }
  }
  return join(here, '../../tapsets');
}

function versionDirs(kernelVR: string): string[] {
  // 6.18.44-fc-v669 → 6.18.44-fc-v669, 6.18.44, 6.18, 6
  const out = [kernelVR];
  const base = /^[0-9.]+/.exec(kernelVR)?.[0] ?? '';
  const parts = base.split('.').filter(Boolean);
  for (let n = parts.length; n > 0; n--) {
    const v = parts.slice(0, n).join('.');
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

/** Directories to read, most specific first, for one library root. */
function searchDirs(root: string, ctx: PreprocessorContext): string[] {
  const dirs: string[] = [];
  for (const prefix of [join(root, ctx.runtime === 'kernel' ? 'linux' : ctx.runtime), root]) {
    for (const v of versionDirs(ctx.kernelVR)) {
      dirs.push(join(prefix, ctx.arch, v), join(prefix, v));
    }
    dirs.push(join(prefix, ctx.arch), prefix);
  }
  return dirs;
}

/** `.stpm` macro files, `.stp` scripts, and `.h` declarations of kernel functions BTF leaves out. */
export interface LibraryFile { path: string; kind: 'macros' | 'script' | 'declarations' }

export function listLibraryFiles(roots: string[], ctx: PreprocessorContext): LibraryFile[] {
  const seen = new Set<string>();
  const found: Record<LibraryFile['kind'], LibraryFile[]> = { macros: [], script: [], declarations: [] };
  for (const root of roots) {
    for (const dir of searchDirs(root, ctx)) {
      let entries: string[];
      try { entries = readdirSync(dir).sort(); } catch { continue; }
      for (const name of entries) {
        const kind = name.endsWith('.stpm') ? 'macros' : name.endsWith('.stp') ? 'script' : name.endsWith('.h') ? 'declarations' : undefined;
        if (!kind || seen.has(name)) continue;
        const path = join(dir, name);
        try { if (!statSync(path).isFile()) continue; } catch { continue; }
        seen.add(name);
        found[kind].push({ path, kind });
      }
    }
  }
  return [...found.macros, ...found.script, ...found.declarations];
}

/** What a library file declares, from a cheap scan of its text (a superset: comments may add names). */
interface Entry {
  path: string;
  functions: Set<string>;
  globals: Set<string>;
  /** First components of the probe aliases it defines ('*' when one is written with a wildcard or braces). */
  aliasHeads: Set<string>;
  parsed?: StapFile;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*/;

function scan(path: string, text: string): Entry {
  const functions = new Set<string>();
  const globals = new Set<string>();
  const aliasHeads = new Set<string>();
  for (const m of text.matchAll(/\bfunction\s+([A-Za-z_][A-Za-z0-9_]*)/g)) functions.add(m[1]!);
  for (const m of text.matchAll(/\bglobal\s+([^;\n{}]*)/g)) {
    for (const part of m[1]!.split(',')) {
      const id = IDENT.exec(part.trim());
      if (id) globals.add(id[0]);
    }
  }
  for (const m of text.matchAll(/(?:^|\n)\s*(?:private\s+)?probe\s+([^{=;]+?)\s*\+?=(?!=)/g)) {
    for (const name of m[1]!.split(',')) {
      const head = IDENT.exec(name.trim())?.[0];
      aliasHeads.add(head && !/[*?[{]/.test(name.trim().slice(head.length, head.length + 1)) ? head : '*');
    }
  }
  return { path, functions, globals, aliasHeads };
}

/**
 * The tapset library: every file is found and scanned at start, but parsed only when a script
 * reaches a function, global or alias it declares (pass 1 parses them all, as stap does, when
 * its dump is what was asked for). A syntax error in a file is reported when it is parsed.
 */
export class Library {
  readonly errors: ParseError[] = [];
  private readonly entries: Entry[] = [];
  private readonly ctx: PreprocessorContext;

  constructor(readonly macros: MacroTable, ctx: PreprocessorContext, readonly count: number) {
    this.ctx = { ...ctx, guru: true };
  }

  addSource(path: string, text: string): void {
    const e = scan(path, text);
    this.entries.push(e);
    this.texts.set(e, text);
  }

  /** A file parsed elsewhere (the generated syscall family), declared by what it holds. */
  addParsed(file: StapFile, aliasHeads: string[]): void {
    this.entries.push({ path: file.file.name, functions: new Set(), globals: new Set(), aliasHeads: new Set(aliasHeads), parsed: file });
  }

  private readonly texts = new Map<Entry, string>();

  private parse(e: Entry): StapFile | undefined {
    if (e.parsed) return e.parsed;
    const text = this.texts.get(e);
    if (text === undefined) return undefined;
    this.texts.delete(e);
    const parsed = parseSource({ name: e.path, text, guru: true }, this.ctx, this.macros, true);
    this.errors.push(...parsed.errors);
    if (parsed.errors.length) throw new LibraryError(parsed.errors);
    e.parsed = parsed.file;
    return e.parsed;
  }

  /** Files parsed so far. */
  get files(): StapFile[] {
    return this.entries.flatMap(e => (e.parsed ? [e.parsed] : []));
  }

  /** Parse every file (pass 1's dump, -u); errors are collected, not thrown. */
  parseAll(): StapFile[] {
    for (const e of this.entries) {
      try { this.parse(e); } catch (err) { if (!(err instanceof LibraryError)) throw err; }
    }
    return this.files;
  }

  fileForFunction(name: string): StapFile | undefined {
    for (const e of this.entries) if (e.functions.has(name)) { const f = this.parse(e); if (f?.decls.some(d => d.kind === 'function' && d.name === name && !d.private)) return f; }
    return undefined;
  }

  fileForGlobal(name: string): StapFile | undefined {
    for (const e of this.entries) if (e.globals.has(name)) { const f = this.parse(e); if (f?.decls.some(d => d.kind === 'global' && d.name === name && !d.private)) return f; }
    return undefined;
  }

  /** Files that may define an alias whose first component matches `head` (a glob). */
  filesForAliasHead(head: string): StapFile[] {
    const out: StapFile[] = [];
    for (const e of this.entries) {
      if (![...e.aliasHeads].some(h => h === '*' || globMatch(head.replace(/\*\*/g, '*'), h) || head === '**')) continue;
      const f = this.parse(e);
      if (f) out.push(f);
    }
    return out;
  }

  functionNames(): string[] {
    return this.entries.flatMap(e => [...e.functions]);
  }

  private readonly declarationFiles: string[] = [];
  private declarations?: Map<string, CDeclaration>;

  addDeclarationFile(path: string): void {
    this.declarationFiles.push(path);
  }

  /**
   * Kernel function declarations from the library's `.h` files, read when first asked for; the
   * most specific directory wins. Throws a DeclarationError naming the file and line of a bad one.
   */
  kernelDeclarations(): Map<string, CDeclaration> {
    if (this.declarations) return this.declarations;
    const map = new Map<string, CDeclaration>();
    for (const path of this.declarationFiles) {
      for (const d of parseDeclarations(readFileSync(path, 'latin1'), path)) if (!map.has(d.name)) map.set(d.name, d);
    }
    this.declarations = map;
    return map;
  }
}

/** Parse errors of a library file, met when the file was needed. */
export class LibraryError extends Error {
  constructor(readonly errors: ParseError[]) {
    super(errors[0]?.message ?? 'library parse error');
  }
}

/** Find every library file and read the `.stpm` macros; `.stp` files are scanned, parsed on demand. */
export function loadLibrary(roots: string[], ctx: PreprocessorContext): Library {
  const libCtx = { ...ctx, guru: true };
  const macros: MacroTable = new Map();
  const list = listLibraryFiles(roots, ctx);
  const library = new Library(macros, ctx, list.filter(f => f.kind !== 'declarations').length);
  for (const f of list) {
    if (f.kind === 'declarations') { library.addDeclarationFile(f.path); continue; }
    const text = readFileSync(f.path, 'latin1');
    if (f.kind === 'macros') library.errors.push(...collectMacros({ name: f.path, text, guru: true }, libCtx, macros));
    else library.addSource(f.path, text);
  }
  return library;
}
