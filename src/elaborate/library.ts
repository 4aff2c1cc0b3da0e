/**
 * Finding and parsing the tapset library: the built-in `tapsets/` directory plus every `-I DIR`,
 * searched like stap (runtime, kernel-version and architecture subdirectories; `.stpm` macro
 * files before `.stp` files; a file name seen once is not read again).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PreprocessorContext } from '../preprocessor/conditions.js';
import type { MacroTable } from '../preprocessor/preprocess.js';
import { collectMacros, parseSource } from '../parser/parse-source.js';
import type { ParseError } from '../diagnostics/diagnostics.js';
import type { StapFile } from '../parser/ast.js';

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

export interface LibraryFile { path: string; macroFile: boolean }

export function listLibraryFiles(roots: string[], ctx: PreprocessorContext): LibraryFile[] {
  const seen = new Set<string>();
  const macros: LibraryFile[] = [];
  const scripts: LibraryFile[] = [];
  for (const root of roots) {
    for (const dir of searchDirs(root, ctx)) {
      let entries: string[];
      try { entries = readdirSync(dir).sort(); } catch { continue; }
      for (const name of entries) {
        const isMacro = name.endsWith('.stpm');
        if (!isMacro && !name.endsWith('.stp')) continue;
        if (seen.has(name)) continue;
        const path = join(dir, name);
        try { if (!statSync(path).isFile()) continue; } catch { continue; }
        seen.add(name);
        (isMacro ? macros : scripts).push({ path, macroFile: isMacro });
      }
    }
  }
  return [...macros, ...scripts];
}

export interface Library { files: StapFile[]; macros: MacroTable; errors: ParseError[]; count: number }

/** Parse every library file (tapsets are parsed with guru privileges, as in stap). */
export function loadLibrary(roots: string[], ctx: PreprocessorContext): Library {
  const libCtx = { ...ctx, guru: true };
  const macros: MacroTable = new Map();
  const files: StapFile[] = [];
  const errors: ParseError[] = [];
  const list = listLibraryFiles(roots, ctx);
  for (const f of list) {
    const source = { name: f.path, text: readFileSync(f.path, 'latin1'), guru: true };
    if (f.macroFile) { errors.push(...collectMacros(source, libCtx, macros)); continue; }
    const parsed = parseSource(source, libCtx, macros, true);
    errors.push(...parsed.errors);
    if (parsed.file) files.push(parsed.file);
  }
  return { files, macros, errors, count: list.length };
}

