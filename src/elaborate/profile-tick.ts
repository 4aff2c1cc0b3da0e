/**
 * `timer.profile` without a profiling timer: the scheduler tick. Every tick of a busy CPU runs the
 * tick hrtimer in hard-interrupt context, on top of whatever task it interrupted, so the
 * `timer:hrtimer_expire_entry` event for the tick handler is a per-CPU sample of the running
 * task, and its kernel stack (through the interrupt frame) says where it was: a stack that ends
 * at the interrupt entry interrupted user mode. tstap reads the handler's address from kallsyms.
 */
import type * as A from '../parser/ast.js';
import { SemanticError } from '../diagnostics/diagnostics.js';
import { Kallsyms } from '../symbols/kallsyms.js';

/**
 * The tick hrtimer's function: tick_sched_timer until 6.9, which renamed it tick_nohz_handler (a
 * name that before 6.9 belonged to the low-resolution tick handler, no hrtimer: so the old name first).
 */
const TICK_HANDLERS = ['tick_sched_timer', 'tick_nohz_handler'];

export const TICK_EVENT = { system: 'timer', event: 'hrtimer_expire_entry' } as const;

/** `$function == <tick handler>`: the condition that keeps only tick expiries (pushed into the kernel as a filter). */
export function tickCondition(tok: A.Expr['tok']): A.Expr {
  let syms: Kallsyms;
  try {
    syms = Kallsyms.load();
  } catch (err) {
    throw new SemanticError(`timer.profile samples the scheduler tick and needs /proc/kallsyms: ${(err as Error).message}`, tok);
  }
  if (!syms.addressesAvailable) {
    throw new SemanticError('timer.profile samples the scheduler tick and needs kernel addresses from /proc/kallsyms, which are hidden from this user (kptr_restrict)', tok);
  }
  const handler = TICK_HANDLERS.flatMap((name) => syms.lookup(name))[0];
  if (!handler) throw new SemanticError(`timer.profile: no scheduler tick handler (${TICK_HANDLERS.join(', ')}) in /proc/kallsyms`, tok);
  return {
    kind: 'compare', op: '==', tok,
    left: { kind: 'tvar', name: '$function', components: [], addressOf: false, tok },
    right: { kind: 'num', value: BigInt.asIntN(64, handler.address), tok },
  };
}
