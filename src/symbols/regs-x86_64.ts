/**
 * The x86-64 register map: tracefs register names, the SysV AMD64 argument/return conventions at
 * a function's entry and exit, stap `register()` names, and DWARF register numbers. Everything
 * arch-specific about locating values lives here so an arm64 map can implement the same contract.
 */

import { resolveType, type ArchRegisterMap, type ArgLocation, type CType, type StapRegister } from './types.js';

export const EM_X86_64 = 62;

/** SysV integer argument registers, as tracefs spells them. */
const INTEGER_ARG_REGISTERS = ['%di', '%si', '%dx', '%cx', '%r8', '%r9'] as const;
/** Registers returning the first and second INTEGER eightbytes of a value. */
const INTEGER_RETURN_REGISTERS = ['%ax', '%dx'] as const;
const SSE_ARG_REGISTER_COUNT = 8;

/** Names the kernel accepts after `%` (regs_query_register_offset on x86-64). */
export const TRACEFS_REGISTERS: readonly string[] = [
  'ax', 'bx', 'cx', 'dx', 'si', 'di', 'bp', 'sp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
  'ip', 'flags', 'cs', 'ss', 'orig_ax',
];

/** stap register() names (tapset x86_64 registers.stp) → tracefs register. */
const STAP_REGISTERS: ReadonlyMap<string, StapRegister> = (() => {
  const map = new Map<string, StapRegister>();
  const full = (fetcharg: string, ...names: string[]) => {
    for (const n of names) map.set(n, { fetcharg, width: 64 });
  };
  const low32 = (fetcharg: string, name: string) => map.set(name, { fetcharg, width: 32 });
  for (let i = 8; i <= 15; i++) full(`%r${i}`, `r${i}`);
  full('%bp', 'rbp', 'bp');
  full('%bx', 'rbx', 'bx');
  full('%ax', 'rax', 'ax');
  full('%cx', 'rcx', 'cx');
  full('%dx', 'rdx', 'dx');
  full('%si', 'rsi', 'si');
  full('%di', 'rdi', 'di');
  full('%orig_ax', 'orig_rax', 'orig_ax');
  full('%ip', 'rip', 'ip');
  full('%cs', 'xcs', 'cs');
  full('%flags', 'eflags', 'flags');
  full('%sp', 'rsp', 'sp');
  full('%ss', 'xss', 'ss');
  low32('%bp', 'ebp');
  low32('%bx', 'ebx');
  low32('%ax', 'eax');
  low32('%cx', 'ecx');
  low32('%dx', 'edx');
  low32('%si', 'esi');
  low32('%di', 'edi');
  low32('%orig_ax', 'orig_eax');
  low32('%ip', 'eip');
  low32('%sp', 'esp');
  return map;
})();

/** DWARF register numbers (SysV AMD64 psABI figure 3.36) that tracefs can read. */
const DWARF_REGISTERS: readonly (string | undefined)[] = (() => {
  const regs: (string | undefined)[] = [
    '%ax', '%dx', '%cx', '%bx', '%si', '%di', '%bp', '%sp',
    '%r8', '%r9', '%r10', '%r11', '%r12', '%r13', '%r14', '%r15',
    '%ip', // 16: return address column; reading it at a probe gives the current ip
  ];
  regs[49] = '%flags';
  regs[51] = '%cs';
  regs[52] = '%ss';
  return regs;
})();

type EightbyteClass = 'INTEGER' | 'SSE';
type Classification = { kind: 'regs'; eightbytes: EightbyteClass[] } | { kind: 'memory' } | { kind: 'empty' };

interface ScalarLeaf {
  offset: number;
  size: number;
  cls: EightbyteClass | 'X87' | 'INVALID';
}

/** Flattens a by-value type into its scalar leaves (psABI classification works on those). */
function scalarLeaves(type: CType, base: number, out: ScalarLeaf[]): void {
  const t = resolveType(type);
  switch (t.kind) {
    case 'int':
    case 'enum':
    case 'pointer':
      out.push({ offset: base, size: t.size, cls: 'INTEGER' });
      return;
    case 'float':
      // long double (x87, 16 bytes in memory) is class X87, passed in memory.
      out.push({ offset: base, size: t.size, cls: t.size > 8 ? 'X87' : 'SSE' });
      return;
    case 'array': {
      const count = t.count ?? 0;
      const elementSize = resolveType(t.element).size;
      for (let i = 0; i < count; i++) scalarLeaves(t.element, base + i * elementSize, out);
      return;
    }
    case 'struct':
    case 'union':
      for (const m of t.members) {
        if (m.bitSize !== 0) {
          out.push({ offset: base + Math.floor(m.bitOffset / 8), size: 1, cls: 'INTEGER' });
        } else {
          scalarLeaves(m.type, base + m.bitOffset / 8, out);
        }
      }
      return;
    default:
      out.push({ offset: base, size: 0, cls: 'INVALID' });
  }
}

/** psABI §3.2.3 classification, for the cases that matter to reading arguments. */
function classify(type: CType): Classification {
  const t = resolveType(type);
  if (t.kind === 'void' || t.kind === 'function') return { kind: 'empty' };
  if (t.size === 0) return { kind: 'empty' };
  if (t.size > 16) return { kind: 'memory' };
  const leaves: ScalarLeaf[] = [];
  scalarLeaves(t, 0, leaves);
  const eightbytes: (EightbyteClass | undefined)[] = new Array(Math.ceil(t.size / 8)).fill(undefined);
  for (const leaf of leaves) {
    if (leaf.cls === 'X87' || leaf.cls === 'INVALID') return { kind: 'memory' };
    // Unaligned fields (packed structs) force MEMORY.
    if (leaf.size > 0 && leaf.offset % leaf.size !== 0) return { kind: 'memory' };
    const index = Math.floor(leaf.offset / 8);
    eightbytes[index] = eightbytes[index] === 'INTEGER' || leaf.cls === 'INTEGER' ? 'INTEGER' : 'SSE';
  }
  return { kind: 'regs', eightbytes: eightbytes.map((c) => c ?? 'SSE') };
}

function entryArgLocation(index: number): ArgLocation {
  if (!Number.isInteger(index) || index < 0) throw new RangeError(`argument index must be a non-negative integer, got ${index}`);
  if (index < INTEGER_ARG_REGISTERS.length) return { kind: 'register', register: INTEGER_ARG_REGISTERS[index]! };
  // At entry (%sp) holds the return address; stack-passed eightbytes follow it.
  return { kind: 'stack', register: '%sp', offset: 8 + 8 * (index - INTEGER_ARG_REGISTERS.length) };
}

function entryArgLocations(params: readonly CType[], returnType: CType): ArgLocation[] {
  let nextInteger = 0;
  let nextSse = 0;
  let stackOffset = 8;
  // A struct returned in memory takes a hidden pointer argument in %rdi.
  if (classify(returnType).kind === 'memory') nextInteger = 1;
  const onStack = (size: number): ArgLocation => {
    const loc: ArgLocation = { kind: 'stack', register: '%sp', offset: stackOffset };
    stackOffset += Math.max(8, Math.ceil(size / 8) * 8);
    return loc;
  };
  return params.map((param): ArgLocation => {
    const cls = classify(param);
    const size = resolveType(param).size;
    if (cls.kind === 'empty') return { kind: 'unavailable', reason: 'argument has no size' };
    if (cls.kind === 'memory') return onStack(size);
    const integerNeeded = cls.eightbytes.filter((c) => c === 'INTEGER').length;
    const sseNeeded = cls.eightbytes.length - integerNeeded;
    if (nextInteger + integerNeeded > INTEGER_ARG_REGISTERS.length || nextSse + sseNeeded > SSE_ARG_REGISTER_COUNT) {
      return onStack(size);
    }
    const registers: string[] = [];
    let usesSse = false;
    for (const c of cls.eightbytes) {
      if (c === 'INTEGER') registers.push(INTEGER_ARG_REGISTERS[nextInteger++]!);
      else {
        nextSse++;
        usesSse = true;
      }
    }
    if (usesSse) return { kind: 'unavailable', reason: 'passed in an SSE (xmm) register, which tracefs cannot read' };
    return registers.length === 1 ? { kind: 'register', register: registers[0]! } : { kind: 'registers', registers };
  });
}

function returnValueLocation(returnType: CType): ArgLocation {
  const cls = classify(returnType);
  if (cls.kind === 'empty') return { kind: 'unavailable', reason: 'the function returns void' };
  // The callee returns the hidden result pointer in %rax.
  if (cls.kind === 'memory') return { kind: 'indirect', register: '%ax' };
  if (cls.eightbytes.some((c) => c === 'SSE')) {
    return { kind: 'unavailable', reason: 'returned in an SSE (xmm) register, which tracefs cannot read' };
  }
  const registers = cls.eightbytes.map((_, i) => INTEGER_RETURN_REGISTERS[i]!);
  return registers.length === 1 ? { kind: 'register', register: registers[0]! } : { kind: 'registers', registers };
}

export const x86_64Registers: ArchRegisterMap = {
  arch: 'x86_64',
  elfMachine: EM_X86_64,
  integerArgRegisters: INTEGER_ARG_REGISTERS,
  returnRegister: '%ax',
  stackPointer: '%sp',
  instructionPointer: '%ip',
  entryArgLocation,
  entryArgLocations,
  returnValueLocation,
  stapRegister: (name) => STAP_REGISTERS.get(name),
  dwarfRegister: (regno) => DWARF_REGISTERS[regno],
  syscallWrapperPrefix: '__x64_',
  // stap's x86-64 layout. Its kernel runtime adds segment, FS/GS base and control registers, read on
  // the CPU; no tracefs probe can fetch those, so the dump stops at the registers the probe saved.
  registerDump: {
    format: 'RIP: %016x\\nRSP: %016x  EFLAGS: %08x\\nRAX: %016x RBX: %016x RCX: %016x\\nRDX: %016x RSI: %016x RDI: %016x\\n' +
      'RBP: %016x R08: %016x R09: %016x\\nR10: %016x R11: %016x R12: %016x\\nR13: %016x R14: %016x R15: %016x\\n',
    registers: ['ip', 'sp', 'flags', 'ax', 'bx', 'cx', 'dx', 'si', 'di', 'bp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'],
  },
};

export { entryArgLocation, entryArgLocations, returnValueLocation };

/** All stap register() names this map knows, for diagnostics ("did you mean"). */
export function stapRegisterNames(): string[] {
  return [...STAP_REGISTERS.keys()];
}
