// The -c command (src/live/index.ts): simple commands run directly so that target() is the command's own pid,
// anything needing a shell runs under /bin/sh -c.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { splitSimpleCommand, startCommand } from '../src/live/index.js';

describe('splitting a -c command', () => {
  it('splits simple commands with quotes and escapes into words', () => {
    expect(splitSimpleCommand('./burst 5000')).toEqual(['./burst', '5000']);
    expect(splitSimpleCommand(`sh -c "/bin/true; /bin/echo hi"`)).toEqual(['sh', '-c', '/bin/true; /bin/echo hi']);
    expect(splitSimpleCommand(`printf '%s\\n' "a b" c\\ d ''`)).toEqual(['printf', '%s\\n', 'a b', 'c d', '']);
    expect(splitSimpleCommand(`echo "say \\"hi\\" \\\\ \\x"`)).toEqual(['echo', 'say "hi" \\ \\x']);
    expect(splitSimpleCommand('  ls   -l  ')).toEqual(['ls', '-l']);
  });

  it('leaves operators, expansions, assignments and unbalanced quotes to the shell', () => {
    for (const cmd of ['a; b', 'a && b', 'a | b', 'a > f', 'a &', '(a)', 'echo $HOME', 'echo "$HOME"', 'echo `id`',
      'ls *.c', 'ls ~', 'FOO=1 env', 'echo "open', 'echo \\', 'a # comment', 'a\nb', '', '   ']) {
      expect(splitSimpleCommand(cmd), cmd).toBeUndefined();
    }
    // Quoted, they are plain characters.
    expect(splitSimpleCommand(`echo 'a; b' "*" '$x'`)).toEqual(['echo', 'a; b', '*', '$x']);
  });
});

describe('starting the -c command (stopped until resume(), as stap forks it before arming the probes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tstap-cmd-'));

  it('runs a simple command as the process whose pid it reports', async () => {
    const out = join(dir, 'simple');
    const child = await startCommand(`sh -c 'echo $$ > ${out}'`);
    child.resume();
    await child.exited;
    expect(Number(readFileSync(out, 'utf8'))).toBe(child.pid);
  });

  it('runs a compound command under /bin/sh, whose pid it reports', async () => {
    const out = join(dir, 'compound');
    const child = await startCommand(`echo $$ > ${out}; true`);
    child.resume();
    await child.exited;
    expect(Number(readFileSync(out, 'utf8'))).toBe(child.pid);
  });

  it('runs a shell builtin through the shell', async () => {
    const child = await startCommand('exit 3');
    child.resume();
    await child.exited;
    expect(child.pid).toBeGreaterThan(0);
  });
});
