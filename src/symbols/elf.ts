/**
 * ELF64 little-endian reader: the facts uprobes need from a binary (function symbols, PLT stubs,
 * SDT notes, and the vaddr → file-offset mapping that uprobe_events wants), read lazily so large
 * files such as libc only cost what is asked of them. Also home of the stap-style glob matcher
 * used for function and path patterns.
 */

import { globToRegExp } from '../glob.js';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import * as zlib from 'node:zlib';

export class ElfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ElfError';
  }
}

/* ---------- constants ---------- */

const ELF_MAGIC = 0x464c457f; // "\x7fELF" read little-endian
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;

export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;

const EM_X86_64 = 62;
const EM_AARCH64 = 183;

export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PT_NOTE = 4;

export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_DYNAMIC = 6;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;
const SHT_SYMTAB_SHNDX = 18;
const SHT_GNU_VERDEF = 0x6ffffffd;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SHT_GNU_VERSYM = 0x6fffffff;

const SHF_COMPRESSED = 0x800;
const ELFCOMPRESS_ZLIB = 1;
const ELFCOMPRESS_ZSTD = 2;

const SHN_UNDEF = 0;
const SHN_ABS = 0xfff1;
const SHN_COMMON = 0xfff2;
const SHN_XINDEX = 0xffff;

const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
const DT_FLAGS_1 = 0x6ffffffb;
const DF_1_PIE = 0x08000000;

const R_X86_64_GLOB_DAT = 6;
const R_X86_64_JUMP_SLOT = 7;

const NT_GNU_BUILD_ID = 3;
const NT_STAPSDT = 3;

const SYMBOL_TYPES = ['NOTYPE', 'OBJECT', 'FUNC', 'SECTION', 'FILE', 'COMMON', 'TLS'] as const;
const SYMBOL_BINDINGS = ['LOCAL', 'GLOBAL', 'WEAK'] as const;
const SYMBOL_VISIBILITIES = ['DEFAULT', 'INTERNAL', 'HIDDEN', 'PROTECTED'] as const;

/* ---------- public shapes ---------- */

export type ElfFileType = 'REL' | 'EXEC' | 'DYN' | 'CORE' | 'OTHER';
export type SymbolType = (typeof SYMBOL_TYPES)[number] | 'IFUNC' | 'OTHER';
export type SymbolBinding = (typeof SYMBOL_BINDINGS)[number] | 'UNIQUE' | 'OTHER';

export interface ElfSection {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly flags: number;
  readonly addr: number;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly info: number;
  readonly addralign: number;
  readonly entsize: number;
}

export interface ElfSegment {
  readonly type: number;
  readonly flags: number;
  readonly offset: number;
  readonly vaddr: number;
  readonly paddr: number;
  readonly filesz: number;
  readonly memsz: number;
  readonly align: number;
}

export interface ElfSymbol {
  readonly name: string;
  /** Symbol version from .gnu.version_d/_r (dynamic symbols only), e.g. "GLIBC_2.2.5". */
  readonly version?: string;
  /** False for hidden (non-default, `name@VER`) versions; true for `name@@VER` and unversioned names. */
  readonly defaultVersion: boolean;
  readonly value: number;
  readonly size: number;
  readonly type: SymbolType;
  readonly binding: SymbolBinding;
  readonly visibility: (typeof SYMBOL_VISIBILITIES)[number];
  readonly sectionIndex: number;
  /** Section name, or 'UND' / 'ABS' / 'COMMON' for the special indices. */
  readonly section: string;
  readonly table: 'symtab' | 'dynsym';
}

export interface PltEntry {
  /** Target symbol name without the `@plt` suffix (objdump prints `name@plt`). */
  readonly name: string;
  readonly address: number;
  readonly section: string;
}

export interface SdtProbe {
  readonly provider: string;
  readonly name: string;
  /** Probe address, adjusted by `.stapsdt.base` when the file was relocated after linking (prelink). */
  readonly pc: number;
  /** File offset of `pc`, what uprobe_events wants. */
  readonly pcFileOffset: number;
  /** Link-time address of `.stapsdt.base` recorded in the note. */
  readonly base: number;
  /** Address of the semaphore (unsigned short) or 0 when the probe has none. */
  readonly semaphore: number;
  /** File offset of the semaphore: uprobe_events' `(ref_ctr_offset)`. Undefined without a semaphore. */
  readonly semaphoreFileOffset?: number;
  /** Raw argument string, e.g. `-4@%edi 8@-16(%rbp)`. */
  readonly args: string;
}

/** One `N@operand` item of an SDT argument string. */
export interface SdtArgument {
  /** Size in bytes. */
  readonly size: number;
  readonly signed: boolean;
  /** Assembler operand, e.g. `%edi`, `-16(%rbp)`, `$5`, `counter(%rip)`. */
  readonly operand: string;
}

export interface DebugLink {
  readonly file: string;
  readonly crc: number;
}

/* ---------- the reader ---------- */

interface Header {
  type: number;
  machine: number;
  entry: number;
  phoff: number;
  shoff: number;
  phentsize: number;
  phnum: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

/** Opens and validates an ELF64 LE file; sections and symbols are read when first asked for. */
export function readElf(path: string): ElfFile {
  return new ElfFile(path);
}

export class ElfFile {
  readonly path: string;
  readonly fileSize: number;
  readonly type: ElfFileType;
  /** ELF e_machine (62 = x86-64). */
  readonly machine: number;
  readonly entry: number;
  readonly sections: readonly ElfSection[];
  readonly segments: readonly ElfSegment[];

  readonly #sectionData = new Map<number, Buffer>();
  #symtab?: ElfSymbol[];
  #dynsym?: ElfSymbol[];
  #dynamic?: { tag: number; value: number }[];
  #sortedFunctions?: ElfSymbol[];
  #functionSymbols?: ElfSymbol[];

  constructor(path: string) {
    this.path = path;
    const fd = openSync(path, 'r');
    try {
      this.fileSize = fstatSync(fd).size;
      const ident = readExact(fd, 0, Math.min(64, this.fileSize), path);
      const header = parseHeader(ident, path, this.fileSize);
      this.type = fileTypeName(header.type);
      this.machine = header.machine;
      this.entry = header.entry;
      this.sections = readSectionHeaders(fd, header, path, this.fileSize);
      this.segments = readProgramHeaders(fd, header, path, this.fileSize);
    } finally {
      closeSync(fd);
    }
  }

  /** Human-readable e_machine. */
  get machineName(): string {
    if (this.machine === EM_X86_64) return 'x86_64';
    if (this.machine === EM_AARCH64) return 'aarch64';
    return `machine ${this.machine}`;
  }

  /** ET_DYN: position independent (PIE executable or shared library); addresses are load-base relative. */
  get isPositionIndependent(): boolean {
    return this.type === 'DYN';
  }

  /** A PIE executable (as opposed to a non-PIE ET_EXEC or a shared library). */
  get isPie(): boolean {
    if (this.type !== 'DYN') return false;
    const flags1 = this.dynamicEntries().find((d) => d.tag === DT_FLAGS_1);
    if (flags1) return (flags1.value & DF_1_PIE) !== 0;
    // Older linkers: an interpreter and no soname means an executable.
    return this.segments.some((s) => s.type === PT_INTERP) && this.soname === undefined;
  }

  /** False when the file has no .symtab (stripped): only dynamic symbols remain. */
  get hasSymtab(): boolean {
    return this.sections.some((s) => s.type === SHT_SYMTAB);
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** Section contents, decompressed if SHF_COMPRESSED; empty for SHT_NOBITS. */
  sectionData(sectionOrName: ElfSection | string): Buffer {
    const section = typeof sectionOrName === 'string' ? this.section(sectionOrName) : sectionOrName;
    if (!section) throw new ElfError(`${this.path}: no section ${String(sectionOrName)}`);
    const cached = this.#sectionData.get(section.index);
    if (cached) return cached;
    let data: Buffer;
    if (section.type === SHT_NOBITS || section.size === 0) {
      data = Buffer.alloc(0);
    } else {
      if (section.offset + section.size > this.fileSize) {
        throw new ElfError(`${this.path}: section ${section.name} extends past the end of the file`);
      }
      data = this.readBytes(section.offset, section.size);
      if (section.flags & SHF_COMPRESSED) data = decompressSection(data, section, this.path);
    }
    this.#sectionData.set(section.index, data);
    return data;
  }

  /** Reads raw bytes from the file. */
  readBytes(offset: number, length: number): Buffer {
    const fd = openSync(this.path, 'r');
    try {
      return readExact(fd, offset, length, this.path);
    } finally {
      closeSync(fd);
    }
  }

  /** `.symtab` symbols (empty when stripped). */
  symbols(): readonly ElfSymbol[] {
    this.#symtab ??= this.#readSymbolTable(SHT_SYMTAB);
    return this.#symtab;
  }

  /** `.dynsym` symbols with their versions. */
  dynamicSymbols(): readonly ElfSymbol[] {
    this.#dynsym ??= this.#readSymbolTable(SHT_DYNSYM);
    return this.#dynsym;
  }

  /** Raw `.dynamic` entries (tag, value), up to DT_NULL. */
  dynamicEntries(): readonly { tag: number; value: number }[] {
    if (this.#dynamic) return this.#dynamic;
    const section = this.sections.find((s) => s.type === SHT_DYNAMIC);
    const entries: { tag: number; value: number }[] = [];
    if (section) {
      const data = this.sectionData(section);
      for (let off = 0; off + 16 <= data.length; off += 16) {
        const tag = Number(data.readBigInt64LE(off));
        if (tag === DT_NULL) break;
        entries.push({ tag, value: u64(data, off + 8, this.path) });
      }
    }
    this.#dynamic = entries;
    return entries;
  }

  /** DT_NEEDED libraries, in order. */
  get needed(): string[] {
    return this.#dynamicStrings(DT_NEEDED);
  }

  get soname(): string | undefined {
    return this.#dynamicStrings(DT_SONAME)[0];
  }

  /** DT_RUNPATH (or the older DT_RPATH) search directories. */
  get runpath(): string[] {
    const dirs = this.#dynamicStrings(DT_RUNPATH);
    const list = dirs.length > 0 ? dirs : this.#dynamicStrings(DT_RPATH);
    return list.flatMap((s) => s.split(':')).filter((s) => s !== '');
  }

  /**
   * Maps a virtual address (as in symbols, relative to load base 0 for ET_DYN) to its offset in the
   * file through the PT_LOAD segments: the number uprobe_events wants after `path:`.
   */
  vaddrToFileOffset(vaddr: number): number {
    for (const seg of this.segments) {
      if (seg.type !== PT_LOAD) continue;
      if (vaddr >= seg.vaddr && vaddr < seg.vaddr + seg.filesz) return vaddr - seg.vaddr + seg.offset;
      if (vaddr >= seg.vaddr && vaddr < seg.vaddr + seg.memsz) {
        throw new ElfError(`${this.path}: address 0x${vaddr.toString(16)} is in zero-filled memory (bss), not in the file`);
      }
    }
    throw new ElfError(`${this.path}: address 0x${vaddr.toString(16)} is not in any loadable segment`);
  }

  /** Inverse of vaddrToFileOffset, for file offsets inside a PT_LOAD segment. */
  fileOffsetToVaddr(offset: number): number {
    for (const seg of this.segments) {
      if (seg.type === PT_LOAD && offset >= seg.offset && offset < seg.offset + seg.filesz) return offset - seg.offset + seg.vaddr;
    }
    throw new ElfError(`${this.path}: file offset 0x${offset.toString(16)} is not in any loadable segment`);
  }

  /** GNU build-id as lowercase hex, from .note.gnu.build-id or any PT_NOTE. */
  get buildId(): string | undefined {
    for (const note of this.#notes()) {
      if (note.owner === 'GNU' && note.type === NT_GNU_BUILD_ID) return note.desc.toString('hex');
    }
    return undefined;
  }

  /** `.gnu_debuglink`: separate debug file name and its CRC32. */
  get debugLink(): DebugLink | undefined {
    const section = this.section('.gnu_debuglink');
    if (!section) return undefined;
    const data = this.sectionData(section);
    const nul = data.indexOf(0);
    if (nul <= 0) return undefined;
    const crcOffset = (nul + 4) & ~3;
    if (crcOffset + 4 > data.length) return undefined;
    return { file: data.toString('utf8', 0, nul), crc: data.readUInt32LE(crcOffset) };
  }

  /**
   * Finds a defined function by name (`name`, `name@VER` or `name@@VER`), preferring .symtab over
   * .dynsym, global over weak over local, and the default version of versioned dynamic symbols.
   */
  findFunction(name: string): ElfSymbol | undefined {
    const at = name.indexOf('@');
    const bare = at >= 0 ? name.slice(0, at) : name;
    const wantVersion = at >= 0 ? name.slice(at).replace(/^@@?/, '') : undefined;
    const candidates = this.#definedFunctions().filter(
      (s) => s.name === bare && (wantVersion === undefined || s.version === wantVersion),
    );
    const rank = (s: ElfSymbol) =>
      (s.table === 'symtab' ? 0 : 10) +
      (s.binding === 'GLOBAL' ? 0 : s.binding === 'WEAK' ? 1 : 2) +
      (s.defaultVersion ? 0 : 5);
    candidates.sort((a, b) => rank(a) - rank(b));
    return candidates[0];
  }

  /**
   * All defined functions whose name matches a stap glob, one entry per (name, address), sorted by
   * address. Local functions of the same name in different files are all returned.
   */
  matchFunctions(pattern: string): ElfSymbol[] {
    const re = globToRegExp(pattern);
    const seen = new Set<string>();
    const out: ElfSymbol[] = [];
    for (const s of this.#definedFunctions()) {
      if (!re.test(s.name)) continue;
      const key = `${s.name}\0${s.value}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(s);
    }
    return out.sort((a, b) => a.value - b.value || a.name.localeCompare(b.name));
  }

  /** The function symbol containing `vaddr`, for symbolising user addresses. */
  functionContaining(vaddr: number): ElfSymbol | undefined {
    if (!this.#sortedFunctions) {
      this.#sortedFunctions = this.#definedFunctions()
        .filter((s) => s.size > 0)
        .sort((a, b) => a.value - b.value);
    }
    const list = this.#sortedFunctions;
    let lo = 0;
    let hi = list.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.value <= vaddr) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    // Aliases share a start address; any of them that spans vaddr will do.
    for (let i = best; i >= 0 && list[i]!.value === list[best]!.value; i--) {
      if (vaddr < list[i]!.value + list[i]!.size) return list[i];
    }
    return undefined;
  }

  /**
   * PLT stubs as objdump names them (`puts@plt`), found by decoding each x86-64 stub's
   * `jmp *GOT(%rip)` and naming the GOT slot from its JUMP_SLOT/GLOB_DAT relocation. Covers
   * `.plt` (lazy binding), `.plt.sec` (IBT) and `.plt.got`. Empty for other machines.
   */
  pltEntries(): PltEntry[] {
    if (this.machine !== EM_X86_64) return [];
    const slotNames = this.#gotSlotNames();
    if (slotNames.size === 0) return [];
    const out: PltEntry[] = [];
    for (const section of this.sections) {
      if (section.name !== '.plt' && section.name !== '.plt.sec' && section.name !== '.plt.got') continue;
      const data = this.sectionData(section);
      const entrySize = section.entsize > 0 ? section.entsize : 16;
      for (let off = 0; off + 6 <= data.length; off += entrySize) {
        const slot = decodeIndirectJump(data, off, Math.min(off + entrySize, data.length), section.addr + off);
        if (slot === undefined) continue;
        const name = slotNames.get(slot);
        if (name !== undefined) out.push({ name, address: section.addr + off, section: section.name });
      }
    }
    return out;
  }

  /** USDT probes from `.note.stapsdt`. */
  sdtProbes(): SdtProbe[] {
    const section = this.section('.note.stapsdt');
    if (!section) return [];
    const baseSection = this.section('.stapsdt.base');
    const out: SdtProbe[] = [];
    for (const note of parseNotes(this.sectionData(section))) {
      if (note.owner !== 'stapsdt' || note.type !== NT_STAPSDT || note.desc.length < 24) continue;
      const desc = note.desc;
      let pc = u64(desc, 0, this.path);
      const base = u64(desc, 8, this.path);
      let semaphore = u64(desc, 16, this.path);
      const strings: string[] = [];
      let pos = 24;
      for (let k = 0; k < 3; k++) {
        const end = desc.indexOf(0, pos);
        const stop = end < 0 ? desc.length : end;
        strings.push(desc.toString('utf8', pos, stop));
        pos = stop + 1;
      }
      // Prelink may move the file after the note was written; the note records where
      // .stapsdt.base was at link time, so the difference is the relocation (stap and bcc do this).
      if (baseSection && base !== 0) {
        const delta = baseSection.addr - base;
        pc += delta;
        if (semaphore !== 0) semaphore += delta;
      }
      out.push({
        provider: strings[0] ?? '',
        name: strings[1] ?? '',
        pc,
        pcFileOffset: this.vaddrToFileOffset(pc),
        base,
        semaphore,
        semaphoreFileOffset: semaphore !== 0 ? this.vaddrToFileOffset(semaphore) : undefined,
        args: strings[2] ?? '',
      });
    }
    return out;
  }

  /* ----- internals ----- */

  #definedFunctions(): ElfSymbol[] {
    this.#functionSymbols ??= [...this.symbols(), ...this.dynamicSymbols()].filter(
      (s) => (s.type === 'FUNC' || s.type === 'IFUNC') && s.sectionIndex !== SHN_UNDEF && s.section !== 'ABS' && s.name !== '',
    );
    return this.#functionSymbols;
  }

  #dynamicStrings(tag: number): string[] {
    const dynamic = this.sections.find((s) => s.type === SHT_DYNAMIC);
    if (!dynamic) return [];
    const strtab = this.sections[dynamic.link];
    if (!strtab) return [];
    const strings = this.sectionData(strtab);
    return this.dynamicEntries()
      .filter((d) => d.tag === tag)
      .map((d) => cString(strings, d.value));
  }

  #notes(): ParsedNote[] {
    const noteSections = this.sections.filter((s) => s.type === SHT_NOTE);
    if (noteSections.length > 0) return noteSections.flatMap((s) => parseNotes(this.sectionData(s)));
    // Files without section headers still have PT_NOTE segments.
    return this.segments
      .filter((p) => p.type === PT_NOTE && p.filesz > 0 && p.offset + p.filesz <= this.fileSize)
      .flatMap((p) => parseNotes(this.readBytes(p.offset, p.filesz)));
  }

  #readSymbolTable(sectionType: number): ElfSymbol[] {
    const section = this.sections.find((s) => s.type === sectionType);
    if (!section) return [];
    const data = this.sectionData(section);
    const strtab = this.sections[section.link];
    if (!strtab) throw new ElfError(`${this.path}: ${section.name} links to missing string table ${section.link}`);
    const strings = this.sectionData(strtab);
    const shndxSection = this.sections.find((s) => s.type === SHT_SYMTAB_SHNDX && s.link === section.index);
    const shndxData = shndxSection ? this.sectionData(shndxSection) : undefined;
    const versions = sectionType === SHT_DYNSYM ? this.#symbolVersions() : undefined;
    const entsize = section.entsize || 24;
    const table = sectionType === SHT_DYNSYM ? 'dynsym' : 'symtab';
    const out: ElfSymbol[] = [];
    for (let i = 1, off = entsize; off + 24 <= data.length; i++, off += entsize) {
      const nameOff = data.readUInt32LE(off);
      const info = data[off + 4]!;
      const other = data[off + 5]!;
      let shndx = data.readUInt16LE(off + 6);
      if (shndx === SHN_XINDEX && shndxData && i * 4 + 4 <= shndxData.length) shndx = shndxData.readUInt32LE(i * 4);
      const typeCode = info & 0xf;
      const bindCode = info >> 4;
      const version = versions?.[i];
      out.push({
        name: cString(strings, nameOff),
        version: version?.name,
        defaultVersion: version ? !version.hidden : true,
        value: u64(data, off + 8, this.path),
        size: u64(data, off + 16, this.path),
        type: typeCode === 10 ? 'IFUNC' : (SYMBOL_TYPES[typeCode] ?? 'OTHER'),
        binding: bindCode === 10 ? 'UNIQUE' : (SYMBOL_BINDINGS[bindCode] ?? 'OTHER'),
        visibility: SYMBOL_VISIBILITIES[other & 3]!,
        sectionIndex: shndx,
        section: sectionNameForIndex(shndx, this.sections),
        table,
      });
    }
    return out;
  }

  /** Per-dynsym-index version names from .gnu.version + .gnu.version_d/_r. */
  #symbolVersions(): ({ name: string; hidden: boolean } | undefined)[] | undefined {
    const versym = this.sections.find((s) => s.type === SHT_GNU_VERSYM);
    if (!versym) return undefined;
    const names = new Map<number, string>();
    const verdef = this.sections.find((s) => s.type === SHT_GNU_VERDEF);
    if (verdef) {
      const data = this.sectionData(verdef);
      const strings = this.sectionData(this.sections[verdef.link]!);
      let off = 0;
      for (let n = 0; n < verdef.info && off + 20 <= data.length; n++) {
        const flags = data.readUInt16LE(off + 2);
        const index = data.readUInt16LE(off + 4);
        const aux = data.readUInt32LE(off + 12);
        const next = data.readUInt32LE(off + 16);
        // VER_FLG_BASE names the file itself, not a version.
        if ((flags & 1) === 0 && off + aux + 4 <= data.length) names.set(index, cString(strings, data.readUInt32LE(off + aux)));
        if (next === 0) break;
        off += next;
      }
    }
    const verneed = this.sections.find((s) => s.type === SHT_GNU_VERNEED);
    if (verneed) {
      const data = this.sectionData(verneed);
      const strings = this.sectionData(this.sections[verneed.link]!);
      let off = 0;
      for (let n = 0; n < verneed.info && off + 16 <= data.length; n++) {
        const count = data.readUInt16LE(off + 2);
        let auxOff = off + data.readUInt32LE(off + 8);
        for (let k = 0; k < count && auxOff + 16 <= data.length; k++) {
          const other = data.readUInt16LE(auxOff + 6);
          names.set(other, cString(strings, data.readUInt32LE(auxOff + 8)));
          const auxNext = data.readUInt32LE(auxOff + 12);
          if (auxNext === 0) break;
          auxOff += auxNext;
        }
        const next = data.readUInt32LE(off + 12);
        if (next === 0) break;
        off += next;
      }
    }
    const data = this.sectionData(versym);
    const out: ({ name: string; hidden: boolean } | undefined)[] = [];
    for (let i = 0; i * 2 + 2 <= data.length; i++) {
      const raw = data.readUInt16LE(i * 2);
      const name = names.get(raw & 0x7fff);
      out.push(name === undefined ? undefined : { name, hidden: (raw & 0x8000) !== 0 });
    }
    return out;
  }

  /** GOT slot address → symbol name, from dynamic relocations against .dynsym. */
  #gotSlotNames(): Map<number, string> {
    const dynsym = this.dynamicSymbols();
    const dynsymIndex = this.sections.findIndex((s) => s.type === SHT_DYNSYM);
    const slots = new Map<number, string>();
    for (const section of this.sections) {
      if (section.type !== SHT_RELA || section.link !== dynsymIndex) continue;
      const data = this.sectionData(section);
      for (let off = 0; off + 24 <= data.length; off += section.entsize || 24) {
        const slot = u64(data, off, this.path);
        const info = data.readBigUInt64LE(off + 8);
        const relType = Number(info & 0xffffffffn);
        const symIndex = Number(info >> 32n);
        if (relType !== R_X86_64_JUMP_SLOT && relType !== R_X86_64_GLOB_DAT) continue;
        const sym = dynsym[symIndex - 1]; // dynsym() omits the null symbol 0
        if (sym && sym.name !== '' && (sym.type === 'FUNC' || sym.type === 'IFUNC' || sym.type === 'NOTYPE')) {
          slots.set(slot, sym.name);
        }
      }
    }
    return slots;
  }
}

/* ---------- helpers ---------- */

interface ParsedNote {
  owner: string;
  type: number;
  desc: Buffer;
}

function parseNotes(data: Buffer): ParsedNote[] {
  const out: ParsedNote[] = [];
  let off = 0;
  while (off + 12 <= data.length) {
    const namesz = data.readUInt32LE(off);
    const descsz = data.readUInt32LE(off + 4);
    const type = data.readUInt32LE(off + 8);
    const nameStart = off + 12;
    const descStart = nameStart + align4(namesz);
    if (descStart + descsz > data.length) break;
    const owner = data.toString('latin1', nameStart, nameStart + Math.max(0, namesz - 1));
    out.push({ owner, type, desc: data.subarray(descStart, descStart + descsz) });
    off = descStart + align4(descsz);
  }
  return out;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * If the PLT stub at [start, end) is an x86-64 `jmp *disp32(%rip)` (optionally after endbr64 and/or
 * with a bnd prefix), returns the GOT slot address it jumps through.
 */
function decodeIndirectJump(data: Buffer, start: number, end: number, stubAddress: number): number | undefined {
  let pos = start;
  if (pos + 4 <= end && data[pos] === 0xf3 && data[pos + 1] === 0x0f && data[pos + 2] === 0x1e && data[pos + 3] === 0xfa) pos += 4;
  if (pos < end && data[pos] === 0xf2) pos += 1;
  if (pos + 6 > end || data[pos] !== 0xff || data[pos + 1] !== 0x25) return undefined;
  const disp = data.readInt32LE(pos + 2);
  const nextInstruction = stubAddress + (pos - start) + 6;
  return nextInstruction + disp;
}

function sectionNameForIndex(index: number, sections: readonly ElfSection[]): string {
  if (index === SHN_UNDEF) return 'UND';
  if (index === SHN_ABS) return 'ABS';
  if (index === SHN_COMMON) return 'COMMON';
  return sections[index]?.name ?? `0x${index.toString(16)}`;
}

function cString(data: Buffer, offset: number): string {
  if (offset >= data.length) return '';
  let end = data.indexOf(0, offset);
  if (end < 0) end = data.length;
  return data.toString('utf8', offset, end);
}

/** Reads a u64 as a JS number; values beyond 2^53 (kernel images) cannot be represented exactly. */
function u64(data: Buffer, offset: number, path: string): number {
  const v = data.readBigUInt64LE(offset);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ElfError(`${path}: value 0x${v.toString(16)} exceeds 2^53; kernel images are not supported here (use BTF/kallsyms)`);
  }
  return Number(v);
}

function readExact(fd: number, offset: number, length: number, path: string): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, offset + done);
    if (n === 0) throw new ElfError(`${path}: unexpected end of file reading ${length} bytes at offset ${offset}`);
    done += n;
  }
  return buf;
}

function parseHeader(ident: Buffer, path: string, fileSize: number): Header {
  if (ident.length < 16 || ident.readUInt32LE(0) !== ELF_MAGIC) throw new ElfError(`${path}: not an ELF file`);
  if (ident[4] !== ELFCLASS64) throw new ElfError(`${path}: only 64-bit ELF files are supported (EI_CLASS=${ident[4]})`);
  if (ident[5] !== ELFDATA2LSB) throw new ElfError(`${path}: only little-endian ELF files are supported (EI_DATA=${ident[5]})`);
  if (ident.length < 64) throw new ElfError(`${path}: truncated ELF header`);
  const header: Header = {
    type: ident.readUInt16LE(16),
    machine: ident.readUInt16LE(18),
    entry: u64(ident, 24, path),
    phoff: u64(ident, 32, path),
    shoff: u64(ident, 40, path),
    phentsize: ident.readUInt16LE(54),
    phnum: ident.readUInt16LE(56),
    shentsize: ident.readUInt16LE(58),
    shnum: ident.readUInt16LE(60),
    shstrndx: ident.readUInt16LE(62),
  };
  if (header.shoff > fileSize || header.phoff > fileSize) throw new ElfError(`${path}: header tables lie past the end of the file`);
  return header;
}

function fileTypeName(type: number): ElfFileType {
  switch (type) {
    case ET_REL:
      return 'REL';
    case ET_EXEC:
      return 'EXEC';
    case ET_DYN:
      return 'DYN';
    case ET_CORE:
      return 'CORE';
    default:
      return 'OTHER';
  }
}

function readSectionHeaders(fd: number, header: Header, path: string, fileSize: number): ElfSection[] {
  if (header.shoff === 0) return [];
  if (header.shentsize < 64) throw new ElfError(`${path}: bad section header size ${header.shentsize}`);
  // Extended numbering: the real counts live in section header 0.
  const first = readExact(fd, header.shoff, 64, path);
  let count = header.shnum;
  let shstrndx = header.shstrndx;
  if (count === 0) count = u64(first, 32, path);
  if (shstrndx === SHN_XINDEX) shstrndx = first.readUInt32LE(40);
  if (header.shoff + count * header.shentsize > fileSize) throw new ElfError(`${path}: section headers extend past the end of the file`);
  const table = readExact(fd, header.shoff, count * header.shentsize, path);
  const raw = [];
  for (let i = 0; i < count; i++) {
    const o = i * header.shentsize;
    raw.push({
      nameOff: table.readUInt32LE(o),
      type: table.readUInt32LE(o + 4),
      flags: u64(table, o + 8, path),
      addr: u64(table, o + 16, path),
      offset: u64(table, o + 24, path),
      size: u64(table, o + 32, path),
      link: table.readUInt32LE(o + 40),
      info: table.readUInt32LE(o + 44),
      addralign: u64(table, o + 48, path),
      entsize: u64(table, o + 56, path),
    });
  }
  const strtab = raw[shstrndx];
  let names: Buffer = Buffer.alloc(0);
  if (strtab && strtab.type !== SHT_NOBITS && strtab.offset + strtab.size <= fileSize) {
    names = readExact(fd, strtab.offset, strtab.size, path);
  }
  return raw.map((r, index) => ({
    index,
    name: cString(names, r.nameOff),
    type: r.type,
    flags: r.flags,
    addr: r.addr,
    offset: r.offset,
    size: r.size,
    link: r.link,
    info: r.info,
    addralign: r.addralign,
    entsize: r.entsize,
  }));
}

function readProgramHeaders(fd: number, header: Header, path: string, fileSize: number): ElfSegment[] {
  if (header.phoff === 0 || header.phnum === 0) return [];
  if (header.phentsize < 56) throw new ElfError(`${path}: bad program header size ${header.phentsize}`);
  if (header.phoff + header.phnum * header.phentsize > fileSize) throw new ElfError(`${path}: program headers extend past the end of the file`);
  const table = readExact(fd, header.phoff, header.phnum * header.phentsize, path);
  const out: ElfSegment[] = [];
  for (let i = 0; i < header.phnum; i++) {
    const o = i * header.phentsize;
    out.push({
      type: table.readUInt32LE(o),
      flags: table.readUInt32LE(o + 4),
      offset: u64(table, o + 8, path),
      vaddr: u64(table, o + 16, path),
      paddr: u64(table, o + 24, path),
      filesz: u64(table, o + 32, path),
      memsz: u64(table, o + 40, path),
      align: u64(table, o + 48, path),
    });
  }
  return out;
}

function decompressSection(data: Buffer, section: ElfSection, path: string): Buffer {
  if (data.length < 24) throw new ElfError(`${path}: compressed section ${section.name} is truncated`);
  const kind = data.readUInt32LE(0);
  const size = u64(data, 8, path);
  const payload = data.subarray(24);
  let out: Buffer;
  if (kind === ELFCOMPRESS_ZLIB) {
    out = zlib.inflateSync(payload);
  } else if (kind === ELFCOMPRESS_ZSTD) {
    // zstd support arrived in Node 22.15; older Nodes cannot read these sections.
    const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Buffer) => Buffer }).zstdDecompressSync;
    if (!zstd) throw new ElfError(`${path}: section ${section.name} is zstd-compressed, which this Node.js cannot decompress`);
    out = zstd(payload);
  } else {
    throw new ElfError(`${path}: section ${section.name} uses unknown compression type ${kind}`);
  }
  if (out.length !== size) throw new ElfError(`${path}: section ${section.name} decompressed to ${out.length} bytes, expected ${size}`);
  return out;
}

/**
 * Splits an SDT argument string (`-4@%edi 8@-16(%rbp) -4@$5`) into its items. The size prefix is
 * optional in old notes; such items are reported as 8-byte unsigned.
 */
export function parseSdtArguments(args: string): SdtArgument[] {
  const out: SdtArgument[] = [];
  for (const item of args.trim().split(/\s+/)) {
    if (item === '') continue;
    const m = /^(-?)(\d+)@(.+)$/.exec(item);
    if (m) out.push({ signed: m[1] === '-', size: Number(m[2]), operand: m[3]! });
    else out.push({ signed: false, size: 8, operand: item });
  }
  return out;
}
