/**
 * The running system as pass 2's symbol table: tracefs event lists and formats, kernel
 * facilities. Everything is read lazily and cached, so scripts that need none of it (begin,
 * timers) never touch tracefs and run without root.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureTracefs } from '../tracefs/mount.js';
import { detectFeatures, type KernelFeatures } from '../tracefs/features.js';
import { readEventFormat, type EventFormat } from '../tracefs/format.js';

export class SystemView {
  /** @param config the kernel's build configuration, when readable: it overrules README lines printed unconditionally. */
  constructor(private readonly config?: () => Map<string, string>) {}

  private root?: string;
  private featureCache?: KernelFeatures;
  private eventList?: Map<string, string[]>;
  private formats = new Map<string, EventFormat>();

  /** The tracefs root; mounts tracefs if needed. Throws a message naming what is missing. */
  tracefs(): string {
    if (!this.root) this.root = ensureTracefs();
    return this.root;
  }

  features(): KernelFeatures {
    if (!this.featureCache) {
      const f = detectFeatures(this.tracefs());
      // The README lists the eprobe syntax even on kernels built without CONFIG_EPROBE_EVENTS, which then
      // refuse every eprobe (EINVAL, nothing in error_log): believe the kernel's config where it is readable.
      const config = this.config?.();
      if (config && config.size > 0 && config.get('CONFIG_EPROBE_EVENTS') !== 'y') f.eprobes = false;
      this.featureCache = f;
    }
    return this.featureCache;
  }

  /** system → event names, from `available_events`. */
  events(): Map<string, string[]> {
    if (this.eventList) return this.eventList;
    const map = new Map<string, string[]>();
    let text = '';
    try {
      text = readFileSync(join(this.tracefs(), 'available_events'), 'utf8');
    } catch {
      for (const sys of readdirSync(join(this.tracefs(), 'events'))) {
        try { for (const ev of readdirSync(join(this.tracefs(), 'events', sys))) text += `${sys}:${ev}\n`; } catch { /* a file, not a system */ }
      }
    }
    for (const line of text.split('\n')) {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const sys = line.slice(0, i);
      let list = map.get(sys);
      if (!list) map.set(sys, (list = []));
      list.push(line.slice(i + 1));
    }
    this.eventList = map;
    return map;
  }

  format(system: string, event: string): EventFormat {
    const key = `${system}:${event}`;
    let f = this.formats.get(key);
    if (!f) {
      f = readEventFormat(this.tracefs(), system, event);
      this.formats.set(key, f);
    }
    return f;
  }
}
