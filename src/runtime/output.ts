/**
 * Script output, buffered as stap's is: handlers append, and the buffer goes to stdout (or -o
 * FILE) when it grows large, after each batch of handlers, and at exit. Strings are byte
 * strings (one char per byte), written as latin1.
 */
import { openSync, writeSync, closeSync } from 'node:fs';

const FLUSH_AT = 64 * 1024;

export class Output {
  private chunks: string[] = [];
  private size = 0;
  private readonly fd: number;
  private readonly ownFd: boolean;

  constructor(file?: string) {
    this.fd = file ? openSync(file, 'w') : 1;
    this.ownFd = !!file;
  }

  write(s: string): void {
    this.chunks.push(s);
    this.size += s.length;
    if (this.size >= FLUSH_AT) this.flush();
  }

  flush(): void {
    if (!this.size) return;
    const buf = Buffer.from(this.chunks.join(''), 'latin1');
    this.chunks = [];
    this.size = 0;
    let off = 0;
    while (off < buf.length) {
      try {
        off += writeSync(this.fd, buf, off);
      } catch (e) {
        // A non-blocking pipe that is full: wait a little and retry; a closed one: give up.
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2); continue; }
        if ((e as NodeJS.ErrnoException).code === 'EPIPE') return;
        throw e;
      }
    }
  }

  close(): void {
    this.flush();
    if (this.ownFd) closeSync(this.fd);
  }
}
