/**
 * Locates tracefs (mounting it when it is absent) and checks that this process may use it, failing with a message
 * that names what is missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export const DEFAULT_TRACEFS = '/sys/kernel/tracing';
export const LEGACY_TRACEFS = '/sys/kernel/debug/tracing';

/** CAP_SYS_ADMIN and CAP_DAC_OVERRIDE bits in /proc/self/status CapEff. */
const CAP_SYS_ADMIN = 21n;
const CAP_DAC_OVERRIDE = 1n;

/** Mount points of type tracefs listed in /proc/self/mounts (octal escapes such as \040 decoded). */
export function tracefsMountPoints(mountsText?: string): string[] {
  let text = mountsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/mounts', 'utf8');
    } catch {
      return [];
    }
  }
  const points: string[] = [];
  for (const line of text.split('\n')) {
    const [, mountPoint, fsType] = line.split(' ');
    if (fsType === 'tracefs' && mountPoint) {
      points.push(mountPoint.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))));
    }
  }
  return points;
}

/** A directory is a usable tracefs root when the kernel's own files are there (an unmounted dir is empty). */
function looksLikeTracefs(dir: string): boolean {
  return existsSync(`${dir}/README`) && existsSync(`${dir}/events`);
}

/**
 * The tracefs root if it is already mounted: /sys/kernel/tracing preferred, then any other tracefs mount, then the
 * legacy debugfs location (which the kernel automounts on access). Undefined when none is present.
 */
export function findTracefs(): string | undefined {
  const mounted = tracefsMountPoints();
  const candidates = [DEFAULT_TRACEFS, ...mounted.filter((p) => p !== DEFAULT_TRACEFS), LEGACY_TRACEFS];
  return candidates.find(looksLikeTracefs);
}

/** Whether the effective credentials can create instances and write control files: root, or both capabilities. */
export function hasTracingPrivileges(): boolean {
  if (typeof process.geteuid === 'function' && process.geteuid() === 0) return true;
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const m = /^CapEff:\s*([0-9a-fA-F]+)/m.exec(status);
    if (!m) return false;
    const caps = BigInt(`0x${m[1]}`);
    return ((caps >> CAP_SYS_ADMIN) & 1n) === 1n && ((caps >> CAP_DAC_OVERRIDE) & 1n) === 1n;
  } catch {
    return false;
  }
}

export interface EnsureTracefsOptions {
  /** Mount tracefs at /sys/kernel/tracing when it is not mounted anywhere (default true). */
  mount?: boolean;
}

/**
 * Returns the tracefs root to use, mounting it if needed. Throws an Error naming the missing piece: privileges
 * (`tstap needs root (CAP_SYS_ADMIN) to use tracefs at …`), kernel support, or a failed mount.
 */
export function ensureTracefs(options: EnsureTracefsOptions = {}): string {
  const privileged = hasTracingPrivileges();
  const found = findTracefs();
  if (found) {
    if (!privileged) throw new Error(`tstap needs root (CAP_SYS_ADMIN) to use tracefs at ${found}`);
    return found;
  }
  if (!privileged) {
    // Unprivileged users cannot look inside tracefs, but /proc/mounts says whether it is there.
    const mounted = tracefsMountPoints()[0];
    if (mounted) throw new Error(`tstap needs root (CAP_SYS_ADMIN) to use tracefs at ${mounted}`);
    throw new Error(`tstap needs root (CAP_SYS_ADMIN) to mount and use tracefs at ${DEFAULT_TRACEFS} (it is not mounted)`);
  }
  if (options.mount === false) throw new Error(`tracefs is not mounted at ${DEFAULT_TRACEFS}`);
  if (!existsSync(DEFAULT_TRACEFS)) {
    throw new Error(`${DEFAULT_TRACEFS} does not exist: this kernel was built without tracefs (CONFIG_TRACING)`);
  }
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', DEFAULT_TRACEFS], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`cannot mount tracefs at ${DEFAULT_TRACEFS} (mount -t tracefs nodev ${DEFAULT_TRACEFS}): ${stderr || (err as Error).message}`);
  }
  if (!looksLikeTracefs(DEFAULT_TRACEFS)) {
    throw new Error(`mounted tracefs at ${DEFAULT_TRACEFS} but it has no README/events: unsupported kernel`);
  }
  return DEFAULT_TRACEFS;
}
