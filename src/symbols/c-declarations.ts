/**
 * Function declarations written in C, for kernel functions BTF leaves out (pahole drops a function
 * the compiler turned into an optimised clone such as `do_execveat_common.isra.0`). The tapset
 * library ships them in `.h` files; parameter types are looked up in BTF when the declaration is used.
 */
import type { Btf } from './btf.js';
import { declaredInteger, normaliseCType } from './c-integers.js';
import type { CType, IntType, Param, PointerType } from './types.js';

export interface CDeclaration {
  readonly name: string;
  readonly returnType: string;
  readonly params: ReadonlyArray<{ readonly name: string; readonly type: string }>;
  /** Where it is written, for messages: `tapsets/linux/functions.h:12`. */
  readonly where: string;
}

export class DeclarationError extends Error {}

/** Every `type name(type a, type b);` of a header; comments and preprocessor lines are skipped. */
export function parseDeclarations(text: string, file: string): CDeclaration[] {
  // Blank out comments and # lines but keep newlines, so line numbers stay right.
  const clean = text
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
    .replace(/\/\/[^\n]*|^[ \t]*#[^\n]*/gm, (c) => ' '.repeat(c.length));
  const out: CDeclaration[] = [];
  let offset = 0;
  for (const chunk of clean.split(';')) {
    const start = offset + (chunk.length - chunk.trimStart().length);
    offset += chunk.length + 1;
    const decl = chunk.trim().replace(/\s+/g, ' ');
    if (!decl) continue;
    const where = `${file}:${clean.slice(0, start).split('\n').length}`;
    const m = /^(.+?)\b([A-Za-z_]\w*) ?\((.*)\)$/.exec(decl);
    if (!m || !m[1]!.trim()) throw new DeclarationError(`${where}: expected a function declaration such as 'int f(int fd, struct file *file);', found '${decl}'`);
    const list = m[3]!.trim();
    const params = list === '' || list === 'void' ? [] : list.split(',').map((p) => {
      const pm = /^(.*?[\s*])([A-Za-z_]\w*)$/.exec(p.trim());
      if (!pm || /[()[\]]/.test(p)) throw new DeclarationError(`${where}: parameter '${p.trim()}' of ${m[2]}: write 'type name' (no arrays, function pointers or unnamed parameters)`);
      return { name: pm[2]!, type: pm[1]!.trim() };
    });
    out.push({ name: m[2]!, returnType: m[1]!.trim(), params, where });
  }
  return out;
}

/** A declaration's parameter and return types as BTF types (integers and typedefs by name, records by tag). */
export function resolveDeclaration(decl: CDeclaration, btf: Btf): { params: Param[]; returnType: CType } {
  const resolve = (spelling: string, what: string): CType => {
    try {
      return resolveTypeSpelling(spelling, btf);
    } catch (err) {
      throw new DeclarationError(`${decl.where}: ${what} of ${decl.name}: ${(err as Error).message}`);
    }
  };
  return {
    params: decl.params.map((p) => ({ name: p.name, type: resolve(p.type, `parameter ${p.name}`) })),
    returnType: resolve(decl.returnType, 'the return type'),
  };
}

const VOID: CType = Object.freeze({ kind: 'void', name: 'void', size: 0 });

/** `const struct filename *`, `unsigned long`, `size_t`, `void` as a type of the BTF type graph. */
export function resolveTypeSpelling(spelling: string, btf: Btf): CType {
  const normal = normaliseCType(spelling).replace(/\b(static|extern|inline|__always_inline|noinline)\b/g, '').trim();
  const stars = /\**$/.exec(normal)![0].length;
  const base = normal.slice(0, normal.length - stars).trim();
  let type: CType | undefined;
  const tagged = /^(struct|union|enum) ([A-Za-z_]\w*)$/.exec(base);
  if (tagged) {
    const [, tag, name] = tagged;
    type = tag === 'struct' ? btf.findStruct(name!) : tag === 'union' ? btf.findUnion(name!) : btf.findEnum(name!);
    if (!type) throw new Error(`BTF has no ${base}`);
  } else if (base === 'void') {
    type = VOID;
  } else {
    type = btf.findTypedef(base) ?? integer(base);
    if (!type) throw new Error(`unknown type '${base}' (BTF has no typedef of that name)`);
  }
  for (let i = 0; i < stars; i++) type = pointerTo(type);
  return type;
}

function integer(name: string): IntType | undefined {
  const known = declaredInteger(name);
  if (!known) return undefined;
  const char = /\bchar$/.test(name);
  return Object.freeze({ kind: 'int', name, size: known.size, signed: known.signed, char, bool: name === 'bool' || name === '_Bool' });
}

function pointerTo(target: CType): PointerType {
  return Object.freeze({ kind: 'pointer', name: '', size: 8, reference: false, target });
}
