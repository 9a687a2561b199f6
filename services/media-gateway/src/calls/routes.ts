import type { CallParties } from './call';
import type { CallHandle } from './handle';

/**
 * What the AI route of an `ai|<digits>` call says before the call is answered:
 * take it (and `release` the seat once the call ends), put it in a queue, or refuse it.
 */
export type AiAdmission =
  | { readonly kind: 'ai'; readonly release?: () => Promise<void> }
  | { readonly kind: 'queue'; readonly queue: string; readonly priority: number }
  | { readonly kind: 'busy' };

/**
 * Where CallManager hands calls that are not plain AI calls. Each hook is optional:
 * without `ivr` / `queue`, `ivr|x` and `queue|x` go to the default AI as before;
 * without `admitAi`, every AI call is taken.
 */
export interface CallRoutes {
  /**
   * Runs the menu on a call answered without an AI; resolves when the menu let go of
   * the call. A call it lets go of that nobody holds (no AI connected, not bridged)
   * is then ended by the manager; a rejection ends the call too (logged).
   */
  ivr?(call: CallHandle, menu: string): Promise<void>;
  /**
   * Puts a call answered without an AI in the queue (as `ivr`). `priority` is given
   * when AI admission queued the call (AiAdmission.priority); absent: the queue's own
   * rules (the number's priority, VIP list).
   */
  queue?(call: CallHandle, queue: string, opts?: { readonly priority?: number }): Promise<void>;
  /** Asked before an `ai|<digits>` call is answered. */
  admitAi?(digits: string, parties: CallParties): Promise<AiAdmission>;
}
