// C declarations of kernel functions BTF leaves out (tapsets/linux/functions.h): parsed with
// their file and line, typed through this kernel's BTF, and rejected clearly when malformed.
import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { DeclarationError, parseDeclarations, resolveDeclaration } from '../src/symbols/c-declarations.js';
import { loadKernelBtf } from '../src/symbols/btf.js';
import { resolveType } from '../src/symbols/types.js';

describe('parseDeclarations', () => {
  it('reads each declaration with its line, skipping comments and preprocessor lines', () => {
    const text = '/* a\n comment */\n#include <x.h>\n// more\nint f(int fd,\n  const struct filename *name, unsigned long n);\nvoid g(void);\n';
    expect(parseDeclarations(text, 'x.h')).toEqual([
      { name: 'f', returnType: 'int', where: 'x.h:5', params: [
        { name: 'fd', type: 'int' }, { name: 'name', type: 'const struct filename *' }, { name: 'n', type: 'unsigned long' }] },
      { name: 'g', returnType: 'void', where: 'x.h:7', params: [] },
    ]);
  });

  it('names the file and line of what it cannot read', () => {
    expect(() => parseDeclarations('int ok(int a);\n\nint x = 3;', 'bad.h')).toThrow(new DeclarationError(
      "bad.h:3: expected a function declaration such as 'int f(int fd, struct file *file);', found 'int x = 3'"));
    expect(() => parseDeclarations('int f(int);', 'bad.h')).toThrow(/bad\.h:1: parameter 'int' of f: write 'type name'/);
    expect(() => parseDeclarations('int f(int (*cb)(int) );', 'bad.h')).toThrow(/bad\.h:1: parameter .* of f/);
  });
});

describe.skipIf(!existsSync('/sys/kernel/btf/vmlinux'))('resolveDeclaration on this kernel\'s BTF', () => {
  it('gives integers their size and sign, pointers their target, records their BTF layout', () => {
    const [decl] = parseDeclarations('long f(int fd, unsigned char c, struct filename *name, size_t n, const char *s, struct user_arg_ptr argv);', 'x.h');
    const { params, returnType } = resolveDeclaration(decl!, loadKernelBtf());
    expect(returnType).toMatchObject({ kind: 'int', size: 8, signed: true });
    const [fd, c, name, n, s, argv] = params.map((p) => p.type);
    expect(fd).toMatchObject({ kind: 'int', size: 4, signed: true });
    expect(c).toMatchObject({ kind: 'int', size: 1, signed: false, char: true });
    expect(name).toMatchObject({ kind: 'pointer', target: { kind: 'struct', name: 'filename', size: 32 } });
    expect(resolveType(n!)).toMatchObject({ kind: 'int', size: 8, signed: false });
    expect(s).toMatchObject({ kind: 'pointer', target: { kind: 'int', char: true } });
    expect(argv).toMatchObject({ kind: 'struct', name: 'user_arg_ptr', size: 16 });
  });

  it('names the declaration and the type BTF does not have', () => {
    const [decl] = parseDeclarations('\nint f(struct no_such_thing *p);', 'x.h');
    expect(() => resolveDeclaration(decl!, loadKernelBtf())).toThrow('x.h:2: parameter p of f: BTF has no struct no_such_thing');
    const [other] = parseDeclarations('int f(frobnicator_t x);', 'y.h');
    expect(() => resolveDeclaration(other!, loadKernelBtf())).toThrow("y.h:1: parameter x of f: unknown type 'frobnicator_t' (BTF has no typedef of that name)");
  });
});
