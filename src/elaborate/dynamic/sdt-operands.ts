/**
 * USDT argument operands (the GNU assembler spellings in `.note.stapsdt`: `%edi`, `-16(%rbp)`,
 * `$5`, `counter(%rip)`) turned into tracefs uprobe fetch arguments or constants. The register
 * spellings are x86-64's; another architecture adds its own table next to this one.
 */
import type { ElfFile, SdtArgument } from '../../symbols/elf.js';

export type SdtValue =
  /** A fetch argument without its type suffix, e.g. `%di`, `-16(%bp)`, `@+0x4010`. */
  | { kind: 'fetch'; fetch: string; type: string }
  | { kind: 'const'; value: bigint };

/** x86-64 register spellings (64/32/16/8-bit) → tracefs register names. */
const X86_64_REGISTERS: ReadonlyMap<string, string> = (() => {
  const map = new Map<string, string>();
  const legacy: [string, string[]][] = [
    ['ax', ['rax', 'eax', 'ax', 'al']],
    ['bx', ['rbx', 'ebx', 'bx', 'bl']],
    ['cx', ['rcx', 'ecx', 'cx', 'cl']],
    ['dx', ['rdx', 'edx', 'dx', 'dl']],
    ['si', ['rsi', 'esi', 'si', 'sil']],
    ['di', ['rdi', 'edi', 'di', 'dil']],
    ['bp', ['rbp', 'ebp', 'bp', 'bpl']],
    ['sp', ['rsp', 'esp', 'sp', 'spl']],
    ['ip', ['rip', 'eip']],
  ];
  for (const [reg, names] of legacy) for (const n of names) map.set(n, `%${reg}`);
  for (let i = 8; i <= 15; i++) for (const suffix of ['', 'd', 'w', 'b']) map.set(`r${i}${suffix}`, `%r${i}`);
  return map;
})();

export class SdtOperandError extends Error {}

function typeFor(arg: SdtArgument): string {
  if (![1, 2, 4, 8].includes(arg.size)) throw new SdtOperandError(`argument size ${arg.size} is not 1, 2, 4 or 8 bytes`);
  return `${arg.signed ? 's' : 'u'}${arg.size * 8}`;
}

function register(name: string): string {
  const reg = X86_64_REGISTERS.get(name.toLowerCase());
  if (!reg) throw new SdtOperandError(`register %${name} cannot be read by tracefs`);
  return reg;
}

/** Lowers one USDT operand; `elf` resolves `symbol(%rip)` operands to file offsets. */
export function lowerSdtOperand(arg: SdtArgument, elf: ElfFile | undefined): SdtValue {
  const op = arg.operand.trim();
  let m: RegExpExecArray | null;
  if ((m = /^\$(-?(?:0x[0-9a-fA-F]+|\d+))$/.exec(op))) {
    const text = m[1]!;
    return { kind: 'const', value: text.startsWith('-') ? -BigInt(text.slice(1)) : BigInt(text) };
  }
  const type = typeFor(arg);
  if ((m = /^%([a-z0-9]+)$/i.exec(op))) {
    const reg = register(m[1]!);
    if (/^(ah|bh|ch|dh)$/i.test(m[1]!)) throw new SdtOperandError(`the high-byte register %${m[1]} cannot be read by tracefs`);
    return { kind: 'fetch', fetch: reg, type };
  }
  if ((m = /^(-?(?:0x[0-9a-fA-F]+|\d+))?\(%([a-z0-9]+)\)$/i.exec(op))) {
    const offset = m[1] === undefined ? 0 : Number(m[1]);
    const base = m[2]!.toLowerCase();
    if (base === 'rip') throw new SdtOperandError(`operand ${op} is relative to the instruction pointer without a symbol`);
    return { kind: 'fetch', fetch: `${offset < 0 ? '-' : '+'}${Math.abs(offset)}(${register(base)})`, type };
  }
  if ((m = /^([A-Za-z_.$][\w.$]*)(?:([+-])(0x[0-9a-fA-F]+|\d+))?\(%rip\)$/.exec(op))) {
    // A global: uprobes read it through its file offset (`@+OFFSET`), which the kernel maps per process.
    if (!elf) throw new SdtOperandError(`operand ${op} names a symbol but the object file is unknown`);
    const sym = [...elf.symbols(), ...elf.dynamicSymbols()].find((s) => s.name === m![1] && s.sectionIndex !== 0);
    if (!sym) throw new SdtOperandError(`operand ${op}: no symbol ${m[1]} in ${elf.path}`);
    const addend = m[3] === undefined ? 0 : Number(m[3]) * (m[2] === '-' ? -1 : 1);
    let offset: number;
    try {
      offset = elf.vaddrToFileOffset(sym.value + addend);
    } catch (err) {
      throw new SdtOperandError(`operand ${op}: ${(err as Error).message}`);
    }
    return { kind: 'fetch', fetch: `@+0x${offset.toString(16)}`, type };
  }
  throw new SdtOperandError(`operand '${op}' is an addressing mode tracefs cannot fetch`);
}
