// The CLI as the test:vm suite runs it: without blocking, because vitest's worker must keep answering
// its RPCs while a run under emulation takes tens of seconds (a worker blocked for over a minute
// fails or stalls the whole suite), and killed outright if it outlives its time.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

const BIN = join(resolve(import.meta.dirname, '../..'), 'bin/tstap.js');

export function tstap(args: string[]): Promise<{ stdout: string; stderr: string; status: number }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('node', [BIN, ...args], { timeout: 240_000, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ stdout, stderr, status: code ?? -1 }));
  });
}
