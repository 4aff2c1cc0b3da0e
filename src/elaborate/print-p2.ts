/** The `-p2` listing in stap's layout: `# globals`, `# functions`, `# probes` with locals. */
import type { Program, Type } from './program.js';

const keyList = (ks: Type[] | undefined) => (ks && ks.length ? ` [${ks.join(', ')}]` : '');

export function printProgram(p: Program): string {
  let o = '';
  if (p.globals.length) {
    o += '# globals\n';
    for (const g of p.globals) {
      o += `${g.name}${g.wrap ? '%' : ''}${g.maxSize ? `[${g.maxSize}]` : ''}:${g.type}${keyList(g.keyTypes)}\n`;
    }
  }
  if (p.functions.length) {
    o += '# functions\n';
    for (const f of p.functions) {
      o += `${f.name}:${f.returnType} (${f.params.map(a => `${a.name}:${a.type}`).join(', ')})\n`;
      if (f.locals.length) {
        o += '  # locals\n';
        for (const l of f.locals) o += `  ${l.name}:${l.type}\n`;
      }
    }
  }
  o += '# probes\n';
  for (const pr of p.probes) {
    o += `${pr.pp} /* <- ${pr.chain.join(' <- ')} */\n`;
    if (pr.locals.length) {
      o += '  # locals\n';
      for (const l of pr.locals) o += `  ${l.name}:${l.type}\n`;
    }
  }
  return o;
}
