// ELF reader and path resolution, checked against binutils (readelf, nm, objdump) on fixtures
// compiled with gcc at test time.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ElfError, parseSdtArguments, readElf, type ElfFile, type ElfSymbol } from '../src/symbols/elf.js';
import { globToRegExp } from '../src/glob.js';
import {
  findLibraries,
  readLdSoCache,
  resolveExecutable,
  resolveLibrary,
  resolveProcessPath,
  resolveProcessPaths,
  ResolveError,
} from '../src/symbols/resolve-path.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const SYS_SDT_HEADER = '/usr/include/x86_64-linux-gnu/sys/sdt.h';
const LIBC = realpathSync('/lib/x86_64-linux-gnu/libc.so.6');

let dir: string;
const bin = (name: string) => join(dir, name);

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

function gcc(out: string, ...flags: string[]): void {
  run('gcc', ['-g', '-O0', `-I${FIXTURES}`, ...flags, join(FIXTURES, 'add.c'), '-o', bin(out)]);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tstap-elf-'));
  gcc('add-pie', '-fPIE', '-pie');
  gcc('add-nopie', '-fno-pie', '-no-pie');
  // Our own .note.stapsdt emitter, independent of whether <sys/sdt.h> is installed.
  gcc('add-own-sdt', '-DTSTAP_OWN_SDT');
  gcc('libadd.so', '-shared', '-fPIC', '-Wl,-soname,libadd.so.1');
  copyFileSync(bin('add-pie'), bin('add-stripped'));
  run('strip', ['--strip-all', bin('add-stripped')]);
  copyFileSync(bin('libadd.so'), bin('libadd-stripped.so'));
  run('strip', ['--strip-all', bin('libadd-stripped.so')]);
  run('objcopy', ['--add-gnu-debuglink', bin('add-pie'), bin('add-stripped'), bin('add-linked')]);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/* ---------- binutils output parsers ---------- */

interface ReadelfSymbol {
  name: string;
  version: string | undefined;
  hidden: boolean;
  value: number;
  size: number;
  type: string;
  bind: string;
  vis: string;
  ndx: string;
}

function readelfSymbols(path: string, table: '.symtab' | '.dynsym'): ReadelfSymbol[] {
  const text = run('readelf', ['-sW', '--dyn-syms', path]);
  const out: ReadelfSymbol[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    const header = /^Symbol table '([^']+)'/.exec(line);
    if (header) {
      current = header[1]!;
      continue;
    }
    if (current !== table) continue;
    const m = /^\s*(\d+): ([0-9a-f]+)\s+(\S+) (\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s?(.*)$/.exec(line);
    if (!m || m[1] === '0') continue;
    let name = m[8]!;
    let version: string | undefined;
    let hidden = false;
    // Only .dynsym names carry versions from .gnu.version; in .symtab '@' is part of the name.
    const v = table === '.dynsym' ? /^(.*?)(@@?)([^@ ]+)(?: \(\d+\))?$/.exec(name) : null;
    if (v) {
      name = v[1]!;
      version = v[3];
      hidden = v[2] === '@';
    }
    const size = m[3]!.startsWith('0x') ? parseInt(m[3]!, 16) : Number(m[3]);
    out.push({ name, version, hidden, value: parseInt(m[2]!, 16), size, type: m[4]!, bind: m[5]!, vis: m[6]!, ndx: m[7]! });
  }
  return out;
}

function ours(sym: ElfSymbol): Omit<ReadelfSymbol, 'hidden'> {
  return {
    name: sym.name,
    // readelf prints version-definition symbols (GLIBC_2.3.3 in version GLIBC_2.3.3) bare.
    version: sym.version === sym.name ? undefined : sym.version,
    value: sym.value,
    size: sym.size,
    type: sym.type,
    bind: sym.binding,
    vis: sym.visibility,
    ndx: sym.section === 'UND' || sym.section === 'ABS' ? sym.section : String(sym.sectionIndex),
  };
}

function readelfLoadSegments(path: string): { offset: number; vaddr: number; filesz: number }[] {
  return run('readelf', ['-lW', path])
    .split('\n')
    .filter((l) => /^\s+LOAD\s/.test(l))
    .map((l) => {
      const f = l.trim().split(/\s+/);
      return { offset: parseInt(f[1]!, 16), vaddr: parseInt(f[2]!, 16), filesz: parseInt(f[4]!, 16) };
    });
}

/* ---------- tests ---------- */

describe('readElf header and layout', () => {
  it('reports type, machine, PIE-ness like readelf -h', () => {
    const pie = readElf(bin('add-pie'));
    const nopie = readElf(bin('add-nopie'));
    const lib = readElf(bin('libadd.so'));
    expect(pie.type).toBe('DYN');
    expect(pie.isPie).toBe(true);
    expect(pie.machineName).toBe('x86_64');
    expect(nopie.type).toBe('EXEC');
    expect(nopie.isPie).toBe(false);
    expect(nopie.isPositionIndependent).toBe(false);
    expect(lib.type).toBe('DYN');
    expect(lib.isPie).toBe(false);
    expect(lib.soname).toBe('libadd.so.1');
    const entry = /Entry point address:\s+(0x[0-9a-f]+)/.exec(run('readelf', ['-hW', bin('add-nopie')]))![1]!;
    expect(nopie.entry).toBe(parseInt(entry, 16));
  });

  it('lists the same sections as readelf -S', () => {
    const elf = readElf(bin('add-pie'));
    const expected = run('readelf', ['-SW', bin('add-pie')])
      .split('\n')
      .map((l) => /^\s*\[\s*(\d+)\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null && m[1] !== '0')
      .map((m) => ({ index: Number(m[1]), name: m[2]!, addr: parseInt(m[3]!, 16), offset: parseInt(m[4]!, 16), size: parseInt(m[5]!, 16) }));
    const actual = elf.sections
      .filter((s) => s.index !== 0)
      .map((s) => ({ index: s.index, name: s.name, addr: s.addr, offset: s.offset, size: s.size }));
    expect(actual).toEqual(expected);
    expect(elf.section('.text')).toBeDefined();
  });

  it('maps virtual addresses to file offsets through PT_LOAD, for PIE and non-PIE', () => {
    for (const name of ['add-pie', 'add-nopie']) {
      const elf = readElf(bin(name));
      const loads = readelfLoadSegments(bin(name));
      expect(elf.segments.filter((s) => s.type === 1).map((s) => ({ offset: s.offset, vaddr: s.vaddr, filesz: s.filesz }))).toEqual(loads);
      const add = elf.findFunction('add')!;
      const seg = loads.find((l) => add.value >= l.vaddr && add.value < l.vaddr + l.filesz)!;
      expect(elf.vaddrToFileOffset(add.value)).toBe(add.value - seg.vaddr + seg.offset);
      expect(elf.fileOffsetToVaddr(elf.vaddrToFileOffset(add.value))).toBe(add.value);
      // The bytes at that file offset are the function's first instruction bytes per objdump.
      const dump = run('objdump', ['-d', `--start-address=0x${add.value.toString(16)}`, `--stop-address=0x${(add.value + 4).toString(16)}`, bin(name)]);
      const firstLine = dump.split('\n').find((l) => /^\s+[0-9a-f]+:\t/.test(l))!;
      const bytes = firstLine.split('\t')[1]!.trim().replace(/ /g, '');
      expect(elf.readBytes(elf.vaddrToFileOffset(add.value), bytes.length / 2).toString('hex')).toBe(bytes);
    }
    expect(() => readElf(bin('add-nopie')).vaddrToFileOffset(0x10)).toThrow(/not in any loadable segment/);
  });

  it('rejects non-ELF, 32-bit and big-endian files with clear errors', () => {
    const text = bin('not-elf.txt');
    writeFileSync(text, 'hello, not an ELF file at all, but long enough to have a header......');
    expect(() => readElf(text)).toThrow(/not an ELF file/);
    const header = Buffer.alloc(64);
    header.write('\x7fELF', 0, 'latin1');
    header[4] = 1; // ELFCLASS32
    header[5] = 1;
    writeFileSync(bin('elf32'), header);
    expect(() => readElf(bin('elf32'))).toThrow(/only 64-bit/);
    header[4] = 2;
    header[5] = 2; // ELFDATA2MSB
    writeFileSync(bin('elf-be'), header);
    expect(() => readElf(bin('elf-be'))).toThrow(ElfError);
    expect(() => readElf(bin('elf-be'))).toThrow(/little-endian/);
  });
});

describe('symbols', () => {
  it('.symtab matches readelf -s entry for entry', () => {
    const elf = readElf(bin('add-pie'));
    const expected = readelfSymbols(bin('add-pie'), '.symtab').map(({ hidden: _h, ...rest }) => rest);
    expect(elf.symbols().map(ours)).toEqual(expected);
  });

  it('.dynsym of libc matches readelf, including symbol versions', () => {
    const elf = readElf(LIBC);
    const expected = readelfSymbols(LIBC, '.dynsym');
    const actual = elf.dynamicSymbols();
    expect(actual.map(ours)).toEqual(expected.map(({ hidden: _h, ...rest }) => rest));
    // Default (@@) vs hidden (@) versions of defined symbols.
    for (let i = 0; i < expected.length; i++) {
      if (expected[i]!.version !== undefined && expected[i]!.ndx !== 'UND') expect(actual[i]!.defaultVersion).toBe(!expected[i]!.hidden);
    }
  });

  it('findFunction picks the default version and agrees with nm', () => {
    const libc = readElf(LIBC);
    const nm = run('nm', ['-D', '--defined-only', LIBC]);
    const memcpyDefault = /^([0-9a-f]+) \w memcpy@@(\S+)$/m.exec(nm)!;
    const memcpy = libc.findFunction('memcpy')!;
    expect(memcpy.value).toBe(parseInt(memcpyDefault[1]!, 16));
    expect(memcpy.version).toBe(memcpyDefault[2]);
    expect(memcpy.type).toBe('IFUNC');
    const old = /^([0-9a-f]+) \w memcpy@(GLIBC_2\.2\.5)$/m.exec(nm)!;
    expect(libc.findFunction('memcpy@GLIBC_2.2.5')!.value).toBe(parseInt(old[1]!, 16));

    const elf = readElf(bin('add-nopie'));
    const nmAdd = run('nm', ['-S', bin('add-nopie')]);
    for (const fn of ['add', 'point_sum', 'main', 'local_helper']) {
      const m = new RegExp(`^([0-9a-f]+) ([0-9a-f]+) [Tt] ${fn}$`, 'm').exec(nmAdd)!;
      const sym = elf.findFunction(fn)!;
      expect(sym.value).toBe(parseInt(m[1]!, 16));
      expect(sym.size).toBe(parseInt(m[2]!, 16));
    }
    expect(elf.findFunction('local_helper')!.binding).toBe('LOCAL');
    expect(elf.findFunction('no_such_function')).toBeUndefined();
    // Undefined (imported) functions are not "found".
    expect(elf.findFunction('printf')).toBeUndefined();
  });

  it('matchFunctions implements stap globs: *, ?, [...]', () => {
    const elf = readElf(bin('add-pie'));
    const names = (p: string) => elf.matchFunctions(p).map((s) => s.name);
    expect(names('add')).toEqual(['add']);
    expect(names('?dd')).toEqual(['add']);
    expect(names('*_sum')).toEqual(['point_sum']);
    expect(names('[lm]*').sort()).toEqual(['local_helper', 'main', 'many_args']);
    expect(names('[!a-l]a*').sort()).toEqual(['main', 'many_args']);
    expect(names('sum_*')).toEqual(['sum_ints']);
    const all = elf.matchFunctions('*');
    expect(all.map((s) => s.value)).toEqual([...all.map((s) => s.value)].sort((a, b) => a - b));
    expect(globToRegExp('a\\*b').test('a*b')).toBe(true);
    expect(globToRegExp('a\\*b').test('axb')).toBe(false);
    expect(globToRegExp('*.so', { pathMode: true }).test('dir/x.so')).toBe(false);
    expect(globToRegExp('[]x]').test(']')).toBe(true);
  });

  it('functionContaining symbolises addresses inside functions', () => {
    const elf = readElf(bin('add-pie'));
    const add = elf.findFunction('add')!;
    expect(elf.functionContaining(add.value)!.name).toBe('add');
    expect(elf.functionContaining(add.value + add.size - 1)!.name).toBe('add');
  });

  it('stripped files keep only dynamic symbols', () => {
    const stripped = readElf(bin('add-stripped'));
    expect(stripped.hasSymtab).toBe(false);
    expect(stripped.symbols()).toEqual([]);
    expect(stripped.findFunction('add')).toBeUndefined();
    const lib = readElf(bin('libadd-stripped.so'));
    expect(lib.hasSymtab).toBe(false);
    const full = readElf(bin('libadd.so'));
    expect(lib.findFunction('point_sum')!.value).toBe(full.findFunction('point_sum')!.value);
    expect(lib.findFunction('point_sum')!.table).toBe('dynsym');
    // static functions are not exported
    expect(lib.findFunction('local_helper')).toBeUndefined();
    expect(full.findFunction('local_helper')).toBeDefined();
  });
});

describe('dynamic section, notes, PLT', () => {
  it('DT_NEEDED matches readelf -d', () => {
    for (const path of [bin('add-pie'), LIBC]) {
      const expected = [...run('readelf', ['-dW', path]).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
      expect(readElf(path).needed).toEqual(expected);
    }
    expect(readElf(bin('add-pie')).needed).toContain('libc.so.6');
  });

  it('build-id and .gnu_debuglink', () => {
    const id = /Build ID: ([0-9a-f]+)/.exec(run('readelf', ['-n', bin('add-pie')]))![1];
    expect(readElf(bin('add-pie')).buildId).toBe(id);
    expect(readElf(bin('add-stripped')).buildId).toBe(id);
    expect(readElf(bin('add-pie')).debugLink).toBeUndefined();
    const link = readElf(bin('add-linked')).debugLink!;
    expect(link.file).toBe('add-pie');
    const dump = run('readelf', ['--string-dump=.gnu_debuglink', bin('add-linked')]);
    expect(dump).toContain('add-pie');
    // objcopy stores the CRC32 of the debug file's contents.
    expect(link.crc).toBe(crc32(readFileSync(bin('add-pie'))));
  });

  it('PLT entries match objdump name@plt symbols', () => {
    for (const path of [bin('add-pie'), bin('add-nopie'), LIBC]) {
      const expected = [...run('objdump', ['-d', '-j', '.plt', '-j', '.plt.sec', '-j', '.plt.got', path]).matchAll(/^([0-9a-f]+) <([^>*+]+)@plt>:$/gm)]
        .map((m) => ({ name: m[2]!, address: parseInt(m[1]!, 16) }))
        .sort((a, b) => a.address - b.address);
      const actual = readElf(path)
        .pltEntries()
        .map((e) => ({ name: e.name, address: e.address }))
        .sort((a, b) => a.address - b.address);
      expect(actual.length).toBeGreaterThan(0);
      expect(actual).toEqual(expected);
    }
  });

  it('PLT entries with IBT (.plt.sec)', (ctx) => {
    try {
      gcc('add-ibt', '-fcf-protection=full', '-Wl,-z,ibtplt');
    } catch (err) {
      console.log(`skipping .plt.sec case: gcc/ld cannot build an IBT PLT here (${(err as Error).message.split('\n')[0]})`);
      ctx.skip();
    }
    const elf = readElf(bin('add-ibt'));
    if (!elf.section('.plt.sec')) {
      console.log('skipping .plt.sec case: the linker did not emit .plt.sec');
      ctx.skip();
    }
    const expected = [...run('objdump', ['-d', bin('add-ibt')]).matchAll(/^([0-9a-f]+) <([^>*+]+)@plt>:$/gm)]
      .map((m) => ({ name: m[2]!, address: parseInt(m[1]!, 16) }))
      .sort((a, b) => a.address - b.address);
    const actual = elf.pltEntries().map((e) => ({ name: e.name, address: e.address })).sort((a, b) => a.address - b.address);
    expect(actual).toEqual(expected);
    expect(elf.pltEntries().some((e) => e.section === '.plt.sec' && e.name === 'puts')).toBe(true);
  });

  function checkSdt(elf: ElfFile, path: string): void {
    const notes = run('readelf', ['-n', path]);
    const expected = [...notes.matchAll(/Provider: (\S+)\s+Name: (\S+)\s+Location: (0x[0-9a-f]+), Base: (0x[0-9a-f]+), Semaphore: (0x[0-9a-f]+)\s+Arguments: ([^\n]*)/g)].map(
      (m) => ({ provider: m[1], name: m[2], pc: parseInt(m[3]!, 16), base: parseInt(m[4]!, 16), semaphore: parseInt(m[5]!, 16), args: m[6]!.trim() }),
    );
    const probes = elf.sdtProbes();
    expect(expected.length).toBe(2);
    expect(probes.map((p) => ({ provider: p.provider, name: p.name, pc: p.pc, base: p.base, semaphore: p.semaphore, args: p.args }))).toEqual(expected);
    const probesSection = elf.section('.probes')!;
    for (const p of probes) {
      expect(p.pcFileOffset).toBe(elf.vaddrToFileOffset(p.pc));
      expect(p.semaphoreFileOffset).toBe(probesSection.offset + (p.semaphore - probesSection.addr));
    }
    // The semaphores are the fixture's variables.
    const nm = run('nm', [path]);
    const sema = /^([0-9a-f]+) \w tstap_fixture_tick_semaphore$/m.exec(nm)!;
    expect(probes.find((p) => p.name === 'tick')!.semaphore).toBe(parseInt(sema[1]!, 16));
    // The probe site is inside the function that contains it.
    expect(elf.functionContaining(probes.find((p) => p.name === 'add_entry')!.pc)!.name).toBe('add');
  }

  it('SDT notes (own inline-asm emitter) match readelf -n', () => {
    const path = bin('add-own-sdt');
    checkSdt(readElf(path), path);
    expect(parseSdtArguments('-4@-20(%rbp) 8@%rax -4@$5 foo')).toEqual([
      { signed: true, size: 4, operand: '-20(%rbp)' },
      { signed: false, size: 8, operand: '%rax' },
      { signed: true, size: 4, operand: '$5' },
      { signed: false, size: 8, operand: 'foo' },
    ]);
  });

  it('SDT notes via <sys/sdt.h>', (ctx) => {
    if (!existsSync(SYS_SDT_HEADER)) {
      console.log(`skipping <sys/sdt.h> case: ${SYS_SDT_HEADER} is not installed (systemtap-sdt-dev); the own-emitter case covers the note format`);
      ctx.skip();
    }
    gcc('add-sys-sdt');
    checkSdt(readElf(bin('add-sys-sdt')), bin('add-sys-sdt'));
  });

  it('SDT notes survive stripping; files without them report none', () => {
    expect(readElf(bin('libadd-stripped.so')).sdtProbes().map((p) => p.name).sort()).toEqual(['add_entry', 'tick']);
    const trueBin = realpathSync('/bin/true');
    expect(run('readelf', ['-n', trueBin])).not.toContain('stapsdt');
    expect(readElf(trueBin).sdtProbes()).toEqual([]);
  });
});

describe('resolve-path', () => {
  it('resolves executables through PATH and relative paths, realpathed', () => {
    const ls = run('sh', ['-c', 'command -v ls']).trim();
    expect(resolveExecutable('ls')).toBe(realpathSync(ls));
    expect(resolveExecutable('./add-pie', { cwd: dir })).toBe(realpathSync(bin('add-pie')));
    const pathDir = join(dir, 'pathdir');
    mkdirSync(pathDir, { recursive: true });
    symlinkSync(bin('add-nopie'), join(pathDir, 'myprog'));
    expect(resolveExecutable('myprog', { path: `/nonexistent:${pathDir}` })).toBe(realpathSync(bin('add-nopie')));
    expect(() => resolveExecutable('myprog', { path: '/nonexistent' })).toThrow(ResolveError);
    expect(resolveProcessPath('myprog', { path: pathDir })).toBe(realpathSync(bin('add-nopie')));
    expect(() => resolveProcessPath('definitely-not-a-program-xyz', { path: pathDir })).toThrow(/cannot find/);
  });

  it('parses /etc/ld.so.cache like ldconfig -p', (ctx) => {
    let ldconfig: string;
    try {
      ldconfig = run('/sbin/ldconfig', ['-p']);
    } catch {
      console.log('skipping ldconfig comparison: /sbin/ldconfig is not available');
      ctx.skip();
      return;
    }
    const count = Number(/^(\d+) libs found in cache/.exec(ldconfig)![1]);
    const cache = readLdSoCache();
    expect(cache.length).toBe(count);
    const libcLine = /^\s+libc\.so\.6 \(([^)]*)\) => (\S+)$/m.exec(ldconfig)!;
    const entry = cache.find((e) => e.name === 'libc.so.6' && e.machine === 62)!;
    expect(entry.path).toBe(libcLine[2]);
    expect(libcLine[1]).toContain('x86-64');
  });

  it('finds libraries by soname, stem and glob, via LD_LIBRARY_PATH, the cache and standard dirs', () => {
    expect(resolveLibrary('libc.so.6')).toBe(LIBC);
    expect(resolveLibrary('libc')).toBe(LIBC);
    expect(resolveProcessPath('libc.so.6')).toBe(LIBC);
    expect(findLibraries('libc.so*')).toContain(LIBC);
    const libDir = join(dir, 'libs');
    mkdirSync(libDir, { recursive: true });
    copyFileSync(bin('libadd.so'), join(libDir, 'libadd.so.1'));
    expect(resolveLibrary('libadd', { ldLibraryPath: libDir })).toBe(realpathSync(join(libDir, 'libadd.so.1')));
    expect(resolveLibrary('libadd.so.1', { ldLibraryPath: libDir })).toBe(realpathSync(join(libDir, 'libadd.so.1')));
    // Only the standard dirs, without the cache, still find libc.
    expect(resolveLibrary('libc.so.6', { ldCachePath: '' })).toBe(LIBC);
    expect(() => resolveLibrary('libdefinitely-missing-xyz')).toThrow(ResolveError);
  });

  it('expands globs in paths and keeps only ELF files', () => {
    const matches = resolveProcessPaths(join(dir, 'add-*'));
    expect(matches).toContain(realpathSync(bin('add-pie')));
    expect(matches).toContain(realpathSync(bin('add-nopie')));
    expect(matches.some((m) => m.endsWith('.txt'))).toBe(false);
    // The libc.so linker script is not an ELF file; libc.so.6 is.
    const libcs = resolveProcessPaths('/usr/lib/x86_64-linux-gnu/libc.so*');
    expect(libcs).toEqual([LIBC]);
    expect(() => resolveProcessPath(join(dir, 'add-*'))).toThrow(/matches \d+ files/);
  });
});
