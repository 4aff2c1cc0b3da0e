/**
 * Small helpers for `npm run bench`: wall-clock medians of whole commands, and ratios against a
 * baseline measured in the same run (the machine is noisy; absolute numbers mean little).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';

export function timeCommand(cmd: string, args: string[], runs = 7, opts: { cwd?: string } = {}): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: opts.cwd });
    const t = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr?.toString().slice(0, 400)}`);
    times.push(t);
  }
  return median(times);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function report(name: string, value: string): void {
  console.log(`${name.padEnd(58)} ${value}`);
}

/** The path of an executable found on PATH as a shell would find it, or undefined. */
export function findExecutable(name: string): string | undefined {
  const dirs = name.includes('/') ? [''] : (process.env.PATH ?? '/usr/bin:/bin').split(':');
  for (const dir of dirs) {
    const path = dir ? `${dir}/${name}` : name;
    try {
      accessSync(path, constants.X_OK);
      if (statSync(path).isFile()) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}
