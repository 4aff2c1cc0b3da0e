// One small runner for every declarative CLI test under test/cases/*.case, in the spirit of
// bpftrace's tests/runtime: each case names a command line, what it must print and how it
// must exit, and which kernel facility it needs. Format (one case per paragraph):
//
//   NAME   what the case pins
//   RUN    tstap arguments, shell-quoted ($SHARED = ../shared, $FIX = test/fixtures, $TMP = a scratch dir)
//   PROG   a one-line script (shorthand for RUN -e '...'); further RUN args may follow via ARGS
//   CWD    the directory to run in (default: a scratch dir)
//   BEFORE a shell command run first (e.g. build a fixture with gcc)
//   EXPECT / STDERR        an exact line of stdout / stderr (repeatable; together the whole stream)
//   EXPECT_FILE            a golden file (relative to test/) holding the whole stdout
//   EXPECT_REGEX / STDERR_REGEX   a pattern the stream must match (repeatable)
//   EXIT   the exit status (default 0)      TIMEOUT seconds (default 20)
//   REQUIRES  root | tracefs | uprobes | kprobes | syscall-tracepoints (skipped, with the reason, where missing)
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync, mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { missingFeature } from './support/features.js';

const TEST_DIR = resolve(import.meta.dirname);
const REPO = resolve(TEST_DIR, '..');
const SHARED = resolve(REPO, '../shared');
const BIN = join(REPO, 'bin/tstap.js');

interface Case {
  cwd?: string; file: string; name: string; args: string[]; before: string[];
  stdout: string[]; stdoutFile?: string; stdoutRegex: RegExp[];
  stderr: string[]; stderrRegex: RegExp[]; exit: number; timeout: number; requires: string[];
  hasStdout: boolean; hasStderr: boolean;
}

/** POSIX-shell-like word splitting with single and double quotes. */
function shellWords(s: string): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let cur: string | undefined;
  let last = -1;
  for (let m; (m = re.exec(s)); ) {
    const piece = m[1] ?? m[2]?.replace(/\\(.)/g, '$1') ?? m[3]!;
    if (cur !== undefined && m.index === last) cur += piece;
    else { if (cur !== undefined) out.push(cur); cur = piece; }
    last = re.lastIndex;
  }
  if (cur !== undefined) out.push(cur);
  return out;
}

function parseCases(file: string, tmp: string): Case[] {
  const cases: Case[] = [];
  const subst = (s: string) => s.replace(/\$SHARED/g, SHARED).replace(/\$FIX/g, join(TEST_DIR, 'fixtures')).replace(/\$TMP/g, tmp);
  let c: Case | undefined;
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    if (raw.startsWith('#')) continue;
    const m = /^([A-Z_]+)(?: (.*))?$/.exec(raw);
    if (!m) { if (raw.trim() !== '') throw new Error(`${file}: cannot read line: ${raw}`); continue; }
    const [, key, value = ''] = m;
    if (key === 'NAME') {
      c = { file, name: value, args: [], before: [], stdout: [], stdoutRegex: [], stderr: [], stderrRegex: [], exit: 0, timeout: 20, requires: [], hasStdout: false, hasStderr: false };
      cases.push(c);
      continue;
    }
    if (!c) throw new Error(`${file}: ${key} before NAME`);
    switch (key) {
      case 'RUN': c.args.push(...shellWords(subst(value))); break;
      case 'PROG': c.args.push('-e', value); break;
      case 'CWD': c.cwd = subst(value); break;
      case 'BEFORE': c.before.push(subst(value)); break;
      case 'EXPECT': c.stdout.push(value); c.hasStdout = true; break;
      case 'EXPECT_FILE': c.stdoutFile = join(TEST_DIR, value); break;
      case 'EXPECT_REGEX': c.stdoutRegex.push(new RegExp(value, 'm')); break;
      case 'STDERR': c.stderr.push(value); c.hasStderr = true; break;
      case 'STDERR_REGEX': c.stderrRegex.push(new RegExp(value, 'm')); break;
      case 'EXIT': c.exit = Number(value); break;
      case 'TIMEOUT': c.timeout = Number(value); break;
      case 'REQUIRES': c.requires.push(...value.split(/\s+/)); break;
      default: throw new Error(`${file}: unknown key ${key}`);
    }
  }
  return cases;
}

const caseDir = join(TEST_DIR, 'cases');
for (const name of readdirSync(caseDir).filter(f => f.endsWith('.case')).sort()) {
  const tmp = mkdtempSync(join(tmpdir(), 'tstap-case-'));
  describe(name, () => {
    for (const c of parseCases(join(caseDir, name), tmp)) {
      const missing = c.requires.map(missingFeature).find(Boolean);
      if (missing) console.log(`SKIP ${name}: ${c.name}: ${missing}`);
      it.skipIf(!!missing)(c.name, async () => {
        for (const cmd of c.before) await execa('sh', ['-c', cmd], { cwd: tmp });
        const r = await execa('node', [BIN, ...c.args], { cwd: c.cwd ?? tmp, reject: false, timeout: c.timeout * 1000, stdin: 'ignore' });
        const context = `\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
        if (c.stdoutFile) expect(r.stdout + '\n', context).toBe(readFileSync(c.stdoutFile, 'utf8'));
        if (c.hasStdout) expect(r.stdout, context).toBe(c.stdout.join('\n'));
        for (const re of c.stdoutRegex) expect(r.stdout, context).toMatch(re);
        if (c.hasStderr) expect(r.stderr, context).toBe(c.stderr.join('\n'));
        for (const re of c.stderrRegex) expect(r.stderr, context).toMatch(re);
        expect(r.exitCode, `exit status${context}`).toBe(c.exit);
      }, (c.timeout + 10) * 1000);
    }
  });
}
