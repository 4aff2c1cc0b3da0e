// The kprobe-backed tapsets (tapsets/linux/vfs.stp, tcp.stp, udp.stp) on a kernel with kprobe
// events, run inside the test:vm guest: each script runs through the CLI with -c on a small Python
// program that does known file and socket work, and the values the tapsets give are checked
// against what the program itself saw (inode and device numbers from stat, ports from
// getsockname, byte counts from its own calls).
import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tstap } from './cli.js';

const TRACEFS = '/sys/kernel/tracing';
const PYTHON = '/usr/bin/python3';
const haveKprobes = existsSync(join(TRACEFS, 'kprobe_events'));
const haveIpv6 = existsSync('/proc/net/if_inet6');

// The work the traced process does. Sizes differ per step so each tapset line is recognisable.
// What it saw goes to a report file: on the shared stdout its lines could land inside tstap's.
const WORKLOAD = String.raw`
import os, socket, sys
sys.stdout = open(sys.argv[3], 'w')

def vfs(d):
    src, out = os.path.join(d, 'source'), os.path.join(d, 'written')
    fd = os.open(src, os.O_RDONLY)
    got = len(os.read(fd, 4096))
    os.close(fd)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    put = os.write(fd, b'w' * 777)
    os.close(fd)
    fd = os.open(d, os.O_RDONLY)
    try:
        os.read(fd, 16)
    except IsADirectoryError:
        pass
    os.close(fd)
    for label, path in (('source', src), ('written', out), ('dir', d)):
        st = os.stat(path)
        print(label, st.st_ino, os.major(st.st_dev), os.minor(st.st_dev))
    print('counts', got, put)

def tcp(label, family, host, size):
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.bind((host, 0))
    srv.listen(1)
    cli = socket.socket(family, socket.SOCK_STREAM)
    cli.connect(srv.getsockname()[:2])
    conn, _ = srv.accept()
    cli.sendall(b'c' * size)
    got = conn.recv(4096)
    print(label, cli.getsockname()[1], srv.getsockname()[1], len(got))

def udp(size):
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(('127.0.0.1', 0))
    cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cli.connect(srv.getsockname())
    cli.send(b'u' * size)
    got, _ = srv.recvfrom(2048)
    print('udp4', cli.getsockname()[1], srv.getsockname()[1], len(got))

if sys.argv[1] == 'vfs':
    vfs(sys.argv[2])
else:
    tcp('tcp4', socket.AF_INET, '127.0.0.1', 1000)
    udp(300)
    if sys.argv[2] == 'ipv6':
        tcp('tcp6', socket.AF_INET6, '::1', 1006)
`;

/** `key=value` pairs of a line (values without spaces). */
function pairs(line: string): Record<string, string> {
  return Object.fromEntries([...line.matchAll(/(\w+)=(\S*)/g)].map((m) => [m[1]!, m[2]!]));
}

describe.skipIf(!haveKprobes || !existsSync(PYTHON))('tapsets over kprobes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tstap-tapsets-'));
  const workload = join(dir, 'workload.py');
  writeFileSync(workload, WORKLOAD);

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    // Every run removed its kprobes and its instance.
    expect(readFileSync(join(TRACEFS, 'kprobe_events'), 'utf8')).not.toMatch(/tstap/);
    expect(readdirSync(join(TRACEFS, 'instances')).filter((n) => n.startsWith('tstap_'))).toEqual([]);
  });

  it('-L lists every alias with stap\'s variable names and types', async () => {
    const listing = [await tstap(['-L', '{vfs,tcp,udp}.*']), await tstap(['-L', '{vfs,tcp,udp}.*.return'])];
    for (const r of listing) expect(r.status, r.stderr).toBe(0);
    const variables = new Map(listing.flatMap((r) => r.stdout.trim().split('\n')).map((line) => {
      const [alias, ...vars] = line.split(' ');
      // After the alias's own variables come the function's context values ($...).
      return [alias!, vars.filter((v) => !v.startsWith('$')).join(' ')];
    }));
    const file = 'file:long pos:long buf:long';
    const where = 'dev:long ino:long devname:string';
    const outcome = 'ret:long retstr:string';
    const errors = 'error:long error_str:string';
    const sock = 'family:long saddr:string daddr:string sport:long dport:long';
    expect(Object.fromEntries(variables)).toEqual({
      'vfs.read': `name:string ${file} bytes_to_read:long ${where} argstr:string`,
      'vfs.read.return': `name:string ${file} bytes_to_read:long ${where} ${outcome} bytes_read:long ${errors}`,
      'vfs.write': `name:string ${file} bytes_to_write:long ${where} argstr:string`,
      'vfs.write.return': `name:string ${file} bytes_to_write:long ${where} ${outcome} bytes_written:long ${errors}`,
      'vfs.open': 'name:string path:long cred:long',
      'vfs.open.return': `name:string path:long cred:long ${outcome} ${errors}`,
      'tcp.sendmsg': `name:string sock:long size:long ${sock}`,
      'tcp.sendmsg.return': `name:string size:long ${sock}`,
      'tcp.recvmsg': `name:string sock:long size:long ${sock}`,
      'tcp.recvmsg.return': `name:string size:long ${sock}`,
      'udp.sendmsg': `name:string sock:long size:long ${sock}`,
      'udp.sendmsg.return': `name:string size:long ${sock}`,
      'udp.recvmsg': `name:string sock:long size:long ${sock}`,
      'udp.recvmsg.return': `name:string size:long ${sock}`,
    });
  });

  it('vfs.read, vfs.write, vfs.open and their returns give the file, the byte counts and the errors', async () => {
    const data = join(dir, 'files');
    rmSync(data, { recursive: true, force: true });
    mkdirSync(data);
    writeFileSync(join(data, 'source'), 'r'.repeat(1234));
    const script = `
      probe vfs.read { if (pid() == target()) printf("%s ino=%d dev=%d devname=%s count=%d argstr=%s\\n", name, ino, dev, devname, bytes_to_read, argstr) }
      probe vfs.read.return { if (pid() == target()) printf("%s.return ino=%d dev=%d count=%d bytes=%d ret=%d error=%d error_str=%s retstr=%s\\n", name, ino, dev, bytes_to_read, bytes_read, ret, error, error_str, retstr) }
      probe vfs.write { if (pid() == target()) printf("%s ino=%d dev=%d devname=%s count=%d\\n", name, ino, dev, devname, bytes_to_write) }
      probe vfs.write.return { if (pid() == target()) printf("%s.return ino=%d count=%d bytes=%d error_str=%s\\n", name, ino, bytes_to_write, bytes_written, error_str) }
      probe vfs.open { if (pid() == target()) printf("%s path=%x cred=%x\\n", name, path, cred) }
      probe vfs.open.return { if (pid() == target()) printf("%s.return path=%x cred=%x ret=%d error_str=%s\\n", name, path, cred, ret, error_str) }`;
    const report = join(dir, 'vfs-report');
    const r = await tstap(['-e', script, '-c', `${PYTHON} ${workload} vfs ${data} ${report}`]);
    expect(r.status, r.stderr).toBe(0);
    const seen = readFileSync(report, 'utf8');
    const lines = r.stdout.split('\n');
    const stat = (label: string) => {
      const m = new RegExp(`^${label} (\\d+) (\\d+) (\\d+)$`, 'm').exec(seen);
      expect(m, `${label} in ${seen}`).not.toBeNull();
      return { ino: m![1]!, dev: String((Number(m![2]) << 20) | Number(m![3])) };
    };
    const source = stat('source');
    const written = stat('written');
    const dirStat = stat('dir');
    expect(seen).toMatch(/^counts 1234 777$/m);
    const of = (prefix: string, ino: string) => lines.filter((l) => l.startsWith(`${prefix} `)).map(pairs).filter((p) => p['ino'] === ino);

    // The read of the source file: 4096 asked, 1234 read; /tmp is tmpfs, which has no block device.
    const reads = of('vfs.read', source.ino);
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatchObject({ dev: source.dev, devname: 'N/A', count: '4096' });
    expect(r.stdout).toMatch(new RegExp(`^vfs\\.read ino=${source.ino} .* argstr=4096, -?\\d+, 0x[0-9a-f]+$`, 'm'));
    expect(of('vfs.read.return', source.ino)).toEqual([
      { ino: source.ino, dev: source.dev, count: '4096', bytes: '1234', ret: '1234', error: '0', error_str: '', retstr: '1234' },
    ]);

    // Reading a directory fails in the kernel with EISDIR.
    expect(of('vfs.read.return', dirStat.ino)).toEqual([
      { ino: dirStat.ino, dev: dirStat.dev, count: '16', bytes: '0', ret: '-21', error: '-21', error_str: 'EISDIR', retstr: '-21' },
    ]);

    expect(of('vfs.write', written.ino)).toEqual([{ ino: written.ino, dev: written.dev, devname: 'N/A', count: '777' }]);
    expect(of('vfs.write.return', written.ino)).toEqual([{ ino: written.ino, count: '777', bytes: '777', error_str: '' }]);

    // Opens: every one has a path and credentials (exec's own opens run under the credentials it
    // then replaces); the workload's three os.open calls come last, with the same credentials,
    // each entry paired with its successful return.
    const opens = lines.filter((l) => l.startsWith('vfs.open ')).map(pairs);
    const openReturns = lines.filter((l) => l.startsWith('vfs.open.return ')).map(pairs);
    expect(opens.length).toBeGreaterThanOrEqual(3);
    expect(openReturns).toHaveLength(opens.length);
    for (const o of [...opens, ...openReturns]) {
      expect(o['path']).toMatch(/^ffff[0-9a-f]{12}$/);
      expect(o['cred']).toMatch(/^ffff[0-9a-f]{12}$/);
    }
    const lastOpens = opens.slice(-3);
    expect(new Set(lastOpens.map((o) => o['cred'])).size).toBe(1);
    expect(openReturns.slice(-3)).toEqual(lastOpens.map((o) => ({ ...o, ret: '0', error_str: '' })));
  });

  it('tcp.* and udp.* give sizes, the address family, both addresses and both ports over loopback', async () => {
    const script = `
      probe tcp.sendmsg, tcp.recvmsg, udp.sendmsg, udp.recvmsg {
        if (pid() == target()) printf("%s sock=%x size=%d family=%d %s:%d -> %s:%d\\n", name, sock, size, family, saddr, sport, daddr, dport)
      }
      probe tcp.sendmsg.return, tcp.recvmsg.return, udp.sendmsg.return, udp.recvmsg.return {
        if (pid() == target()) printf("%s.return size=%d family=%d %s:%d -> %s:%d\\n", name, size, family, saddr, sport, daddr, dport)
      }`;
    const report = join(dir, 'net-report');
    const r = await tstap(['-e', script, '-c', `${PYTHON} ${workload} net ${haveIpv6 ? 'ipv6' : 'ipv4'} ${report}`]);
    expect(r.status, r.stderr).toBe(0);
    const seen = readFileSync(report, 'utf8');
    const ports = (label: string) => {
      const m = new RegExp(`^${label} (\\d+) (\\d+) (\\d+)$`, 'm').exec(seen);
      expect(m, `${label} in ${seen}`).not.toBeNull();
      return { client: m![1]!, server: m![2]!, got: m![3]! };
    };
    const ours = r.stdout.split('\n').filter((l) => /^(tcp|udp)\./.test(l)).map((l) => l.replace(/ sock=ffff[0-9a-f]{12} /, ' sock '));

    const tcp4 = ports('tcp4');
    expect(tcp4.got).toBe('1000');
    const c4 = `127.0.0.1:${tcp4.client}`;
    const s4 = `127.0.0.1:${tcp4.server}`;
    expect(ours, r.stdout).toContain(`tcp.sendmsg sock size=1000 family=2 ${c4} -> ${s4}`);
    expect(ours, r.stdout).toContain(`tcp.sendmsg.return size=1000 family=2 ${c4} -> ${s4}`);
    expect(ours, r.stdout).toContain(`tcp.recvmsg sock size=4096 family=2 ${s4} -> ${c4}`);
    expect(ours, r.stdout).toContain(`tcp.recvmsg.return size=1000 family=2 ${s4} -> ${c4}`);

    // The client is connected; the server socket is only bound, so it has no remote end.
    const udp4 = ports('udp4');
    expect(udp4.got).toBe('300');
    expect(ours, r.stdout).toContain(`udp.sendmsg sock size=300 family=2 127.0.0.1:${udp4.client} -> 127.0.0.1:${udp4.server}`);
    expect(ours, r.stdout).toContain(`udp.sendmsg.return size=300 family=2 127.0.0.1:${udp4.client} -> 127.0.0.1:${udp4.server}`);
    expect(ours, r.stdout).toContain(`udp.recvmsg sock size=2048 family=2 127.0.0.1:${udp4.server} -> 0.0.0.0:0`);
    expect(ours, r.stdout).toContain(`udp.recvmsg.return size=300 family=2 127.0.0.1:${udp4.server} -> 0.0.0.0:0`);

    if (haveIpv6) {
      const tcp6 = ports('tcp6');
      const loopback6 = '0000:0000:0000:0000:0000:0000:0000:0001';
      expect(ours, r.stdout).toContain(`tcp.sendmsg sock size=1006 family=10 ${loopback6}:${tcp6.client} -> ${loopback6}:${tcp6.server}`);
      expect(ours, r.stdout).toContain(`tcp.recvmsg.return size=1006 family=10 ${loopback6}:${tcp6.server} -> ${loopback6}:${tcp6.client}`);
    }
    // Nothing else: the Python process does no other socket I/O.
    expect(ours, r.stdout).toHaveLength(haveIpv6 ? 12 : 8);
  });
});
