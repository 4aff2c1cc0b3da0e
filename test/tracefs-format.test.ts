import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  compileDecoder, compileFieldReader, parseEventFormat, readEventFormat, type EventFormat, type FieldValue,
} from '../src/tracefs/format.js';
import { TraceInstance } from '../src/tracefs/instance.js';

const ROOT = '/sys/kernel/tracing';

describe('parseEventFormat on real format files', () => {
  it('parses sched/sched_switch', () => {
    const f = readEventFormat(ROOT, 'sched', 'sched_switch');
    expect(f.name).toBe('sched_switch');
    expect(f.system).toBe('sched');
    expect(f.id).toBe(Number(readFileSync(join(ROOT, 'events/sched/sched_switch/id'), 'utf8')));
    expect(f.commonFields.map((x) => x.name)).toEqual(['common_type', 'common_flags', 'common_preempt_count', 'common_pid']);
    expect(f.commonFields.every((x) => x.common)).toBe(true);
    const byName = Object.fromEntries(f.fields.map((x) => [x.name, x]));
    expect(byName.prev_comm).toMatchObject({ type: 'char', kind: 'string', offset: 8, size: 16, arrayLength: 16, elementSize: 1, common: false });
    expect(byName.prev_pid).toMatchObject({ type: 'pid_t', kind: 'int', size: 4, signed: true });
    expect(byName.prev_state).toMatchObject({ type: 'long', kind: 'int', size: 8, signed: true });
    expect(f.fields.map((x) => x.name)).toEqual(['prev_comm', 'prev_pid', 'prev_prio', 'prev_state', 'next_comm', 'next_pid', 'next_prio']);
    expect(f.printFmt.startsWith('"prev_comm=%s')).toBe(true);
  });

  it('parses syscalls/sys_enter_openat (8-byte argument slots, pointers)', () => {
    const f = readEventFormat(ROOT, 'syscalls', 'sys_enter_openat');
    const byName = Object.fromEntries(f.allFields.map((x) => [x.name, x]));
    expect(byName.__syscall_nr).toMatchObject({ kind: 'int', size: 4, signed: true, common: false });
    expect(byName.filename).toMatchObject({ type: 'const char *', kind: 'int', size: 8, signed: false });
    expect(byName.dfd).toMatchObject({ type: 'int', size: 8, signed: false });
  });

  it('parses sched/sched_process_exec with a __data_loc string', () => {
    const f = readEventFormat(ROOT, 'sched', 'sched_process_exec');
    const filename = f.fields.find((x) => x.name === 'filename')!;
    expect(filename).toMatchObject({ type: '__data_loc char[]', kind: 'dynString', dynamic: 'data_loc', size: 4 });
    expect(f.fields.map((x) => x.name)).toEqual(['filename', 'pid', 'old_pid']);
  });

  it('parses every format file of this kernel with consistent layouts', () => {
    const ids = new Set<number>();
    let count = 0;
    for (const system of readdirSync(join(ROOT, 'events'))) {
      const dir = join(ROOT, 'events', system);
      if (!existsSync(join(dir, 'enable'))) continue;
      for (const event of readdirSync(dir)) {
        if (!existsSync(join(dir, event, 'format'))) continue;
        const f = readEventFormat(ROOT, system, event);
        count++;
        expect(ids.has(f.id)).toBe(false);
        ids.add(f.id);
        expect(f.commonFields.length).toBeGreaterThanOrEqual(4);
        for (const field of f.allFields) {
          expect(field.name).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
          if (field.kind === 'dynString' || field.kind === 'dynArray') expect(field.size).toBe(4);
          if (field.kind === 'array' && field.arrayLength) expect(field.arrayLength * field.elementSize!).toBe(field.size);
        }
        // Compiling must work for every real layout.
        compileDecoder(f);
      }
    }
    expect(count).toBeGreaterThan(500);
  });
});

/** A synthetic event exercising every field kind, including __rel_loc (absent from this kernel's formats). */
const SYNTHETIC = `name: every_kind
ID: 4242
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:s8 small;	offset:8;	size:1;	signed:1;
	field:short half;	offset:9;	size:2;	signed:1;
	field:u32 word;	offset:11;	size:4;	signed:0;
	field:u64 big;	offset:15;	size:8;	signed:0;
	field:s64 neg;	offset:23;	size:8;	signed:1;
	field:void * ptr;	offset:31;	size:8;	signed:0;
	field:char comm[8];	offset:39;	size:8;	signed:0;
	field:u8 addr[4];	offset:47;	size:4;	signed:0;
	field:__data_loc char[] path;	offset:51;	size:4;	signed:0;
	field:__rel_loc char[] rel;	offset:55;	size:4;	signed:0;
	field:__data_loc u64[] vals;	offset:59;	size:4;	signed:0;
	field:s64 safe;	offset:63;	size:8;	signed:1;

print fmt: "whatever"
`;

function syntheticRecord(): { buf: Buffer; at: number; length: number } {
  const at = 5; // deliberately unaligned: probe records are packed
  const buf = Buffer.alloc(160);
  const o = at;
  buf.writeUInt16LE(4242, o);
  buf.writeInt32LE(-7, o + 4);
  buf.writeInt8(-3, o + 8);
  buf.writeInt16LE(-1234, o + 9);
  buf.writeUInt32LE(0xfffffffe, o + 11);
  buf.writeBigUInt64LE(2n ** 63n + 5n, o + 15);
  buf.writeBigInt64LE(-(2n ** 60n), o + 23);
  buf.writeBigUInt64LE(0xffff888012345678n, o + 31);
  buf.write('bash\0zzz', o + 39, 'latin1');
  Buffer.from([10, 0, 0, 1]).copy(buf, o + 47);
  // Dynamic data after the fixed part (ends at 71).
  const pathAt = 72;
  buf.write('/usr/bin/true\0', o + pathAt, 'latin1');
  buf.writeUInt32LE(((14 << 16) | pathAt) >>> 0, o + 51);
  const relAt = 88; // __rel_loc: offset counted from the end of the field (55 + 4 = 59)
  buf.write('héllo\0', o + relAt, 'utf8');
  buf.writeUInt32LE(((7 << 16) | (relAt - 59)) >>> 0, o + 55);
  const valsAt = 96;
  buf.writeBigUInt64LE(1n, o + valsAt);
  buf.writeBigUInt64LE(2n ** 64n - 1n, o + valsAt + 8);
  buf.writeUInt32LE(((16 << 16) | valsAt) >>> 0, o + 59);
  buf.writeBigInt64LE(-(2n ** 53n - 1n), o + 63);
  return { buf, at, length: 112 };
}

const EXPECTED: Record<string, FieldValue> = {
  common_type: 4242, common_flags: 0, common_preempt_count: 0, common_pid: -7,
  small: -3, half: -1234, word: 0xfffffffe, big: 2n ** 63n + 5n, neg: -(2n ** 60n), ptr: 0xffff888012345678n,
  comm: 'bash', addr: [10, 0, 0, 1], path: '/usr/bin/true', rel: 'héllo', vals: [1, 2n ** 64n - 1n],
  safe: -(2 ** 53 - 1),
};

describe('compileDecoder', () => {
  const format = parseEventFormat(SYNTHETIC);

  it('classifies the synthetic fields', () => {
    const kinds = Object.fromEntries(format.fields.map((f) => [f.name, f.kind]));
    expect(kinds).toMatchObject({ comm: 'string', addr: 'array', path: 'dynString', rel: 'dynString', vals: 'dynArray', ptr: 'int' });
    expect(format.fields.find((f) => f.name === 'rel')!.dynamic).toBe('rel_loc');
    expect(format.fields.find((f) => f.name === 'vals')!.elementSize).toBe(8);
  });

  for (const codegen of [true, false]) {
    it(`decodes every kind with the number/bigint contract (codegen=${codegen})`, () => {
      const { buf, at, length } = syntheticRecord();
      const decode = compileDecoder(format, { codegen });
      const obj = decode(buf, at, length);
      expect(obj).toEqual(EXPECTED);
      expect(typeof obj.safe).toBe('number');
      const out: FieldValue[] = [];
      decode.decodeInto(buf, at, out, length);
      expect(out).toEqual(decode.fieldNames.map((n) => EXPECTED[n]));
    });
  }

  it('decodes a chosen subset and single fields', () => {
    const { buf, at } = syntheticRecord();
    const decode = compileDecoder(format, { fields: ['path', 'common_pid'] });
    expect(decode.fieldNames).toEqual(['path', 'common_pid']);
    expect(decode(buf, at)).toEqual({ path: '/usr/bin/true', common_pid: -7 });
    expect(compileFieldReader(format, 'big')(buf, at)).toBe(2n ** 63n + 5n);
    expect(() => compileDecoder(format, { fields: ['nope'] })).toThrow(/no field 'nope'/);
  });

  it('bounds flexible char arrays by the record length', () => {
    const f = parseEventFormat(`name: print
ID: 5
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:unsigned long ip;	offset:8;	size:8;	signed:0;
	field:char buf[];	offset:16;	size:0;	signed:0;

print fmt: "%ps: %s", (void *)REC->ip, REC->buf
`);
    expect(f.fields[1]).toMatchObject({ kind: 'string', arrayLength: 0 });
    const rec = Buffer.alloc(40, 0x41);
    rec.fill(0, 0, 16);
    expect(compileDecoder(f, { fields: ['buf'] })(rec, 0, 24).buf).toBe('AAAAAAAA');
    expect(compileDecoder(f, { fields: ['buf'], codegen: false })(rec, 0, 24).buf).toBe('AAAAAAAA');
  });

  it('decodes big-endian records when told so', () => {
    const f = parseEventFormat(SYNTHETIC);
    const rec = Buffer.alloc(80);
    rec.writeUInt16BE(4242, 0);
    rec.writeInt32BE(-7, 4);
    rec.writeBigUInt64BE(2n ** 63n + 5n, 15);
    const d = compileDecoder(f, { littleEndian: false, fields: ['common_type', 'common_pid', 'big'] });
    expect(d(rec, 0)).toEqual({ common_type: 4242, common_pid: -7, big: 2n ** 63n + 5n });
  });
});

describe('decoding live records', () => {
  let instance: TraceInstance | undefined;
  afterAll(async () => {
    await instance?.close();
  });

  it('decodes sched_process_exec and sys_enter_openat from the kernel', () => {
    instance = TraceInstance.create({ bufferSizeKb: 512 });
    const exec = instance.eventFormat('sched', 'sched_process_exec');
    const openat = instance.eventFormat('syscalls', 'sys_enter_openat');
    const switchFmt = instance.eventFormat('sched', 'sched_switch');
    instance.enableEvent('sched', 'sched_process_exec');
    instance.enableEvent('syscalls', 'sys_enter_openat');
    instance.enableEvent('sched', 'sched_switch');
    const reader = instance.openReader();
    // The child opens a path we choose, relative to AT_FDCWD (-100).
    const child = spawnSync('/bin/cat', ['/tstap-format-test-missing-file']);
    expect(child.status).not.toBe(0);
    const batch = reader.finalDrain();
    const decoders = new Map<number, ReturnType<typeof compileDecoder>>(
      [exec, openat, switchFmt].map((f: EventFormat) => [f.id, compileDecoder(f)]),
    );
    const interpreted = new Map<number, ReturnType<typeof compileDecoder>>(
      [exec, openat, switchFmt].map((f: EventFormat) => [f.id, compileDecoder(f, { codegen: false })]),
    );
    let sawExec = false;
    let sawOpen = false;
    let switches = 0;
    for (let i = 0; i < batch.count; i++) {
      const id = batch.eventId[i];
      const rec = decoders.get(id)!(batch.data, batch.offset[i], batch.length[i]);
      // The generated and interpreted decoders agree on every real record.
      expect(interpreted.get(id)!(batch.data, batch.offset[i], batch.length[i])).toEqual(rec);
      if (id === exec.id && rec.pid === child.pid) {
        expect(rec.filename).toBe('/bin/cat');
        expect(rec.common_pid).toBe(child.pid);
        sawExec = true;
      }
      // Syscall arguments are raw 8-byte register values (signed:0) whatever their C type: an `int dfd` of
      // AT_FDCWD arrives as 0xffffff9c or 2^64-100 depending on how the caller extended it.
      const dfdAsInt = id === openat.id ? Number(BigInt(rec.dfd as number | bigint) & 0xffffffffn) | 0 : 0;
      if (id === openat.id && rec.common_pid === child.pid && dfdAsInt === -100) {
        // A user pointer fits in 53 bits: a number.
        expect(typeof rec.filename).toBe('number');
        expect(rec.filename).toBeGreaterThan(0);
        sawOpen = true;
      }
      if (id === switchFmt.id) {
        switches++;
        expect(typeof rec.prev_comm).toBe('string');
        expect(typeof rec.next_pid).toBe('number');
      }
    }
    expect(sawExec).toBe(true);
    expect(sawOpen).toBe(true);
    expect(switches).toBeGreaterThan(0);
  });
});
