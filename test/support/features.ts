// What the running kernel offers, for tests that need a facility: a test skips (and says why)
// only where the kernel truly lacks it.
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const TRACEFS = '/sys/kernel/tracing';

function ensureTracefs(): boolean {
  if (existsSync(`${TRACEFS}/README`)) return true;
  try { execFileSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS], { stdio: 'ignore' }); } catch { /* reported below */ }
  return existsSync(`${TRACEFS}/README`);
}

/** Why `feature` is unavailable here, or undefined when it is available. */
export function missingFeature(feature: string): string | undefined {
  const root = process.getuid?.() === 0;
  switch (feature) {
    case 'root': return root ? undefined : 'needs root';
    case 'tracefs': return !root ? 'needs root' : ensureTracefs() ? undefined : 'no tracefs on this kernel';
    case 'uprobes': return missingFeature('tracefs') ?? (existsSync(`${TRACEFS}/uprobe_events`) ? undefined : 'kernel has no uprobe events (CONFIG_UPROBE_EVENTS)');
    case 'kprobes': return missingFeature('tracefs') ?? (existsSync(`${TRACEFS}/kprobe_events`) ? undefined : 'kernel has no kprobe events (CONFIG_KPROBE_EVENTS)');
    case 'nokprobes': return missingFeature('tracefs') ?? (existsSync(`${TRACEFS}/kprobe_events`) ? 'kernel has kprobe events' : undefined);
    case 'syscall-tracepoints':
      return missingFeature('tracefs') ?? (existsSync(`${TRACEFS}/events/syscalls`) ? undefined : 'kernel has no syscall tracepoints (CONFIG_FTRACE_SYSCALLS)');
    case 'gcc': {
      try { execFileSync('gcc', ['--version'], { stdio: 'ignore' }); return undefined; } catch { return 'gcc is not installed'; }
    }
    default: throw new Error(`unknown feature ${feature}`);
  }
}

export function tracefsText(path: string): string {
  return readFileSync(`${TRACEFS}/${path}`, 'utf8');
}
