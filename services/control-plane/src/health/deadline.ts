import { CodedError } from '../../../common/src/errors';

/** Rejected by `deadline` when the work took too long. */
export class DeadlineError extends CodedError<'ERR_DEADLINE_EXCEEDED'> {
  constructor(what: string, ms: number) {
    super('ERR_DEADLINE_EXCEEDED', `${what} did not answer within ${ms} ms`);
  }
}

/**
 * Settles like `work`, or rejects with `DeadlineError` after `ms`. The timer is
 * cleared either way, so nothing outlives the call. (`work` itself is not
 * cancelled; the clients used here have their own timeouts.)
 */
export function deadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(what, ms)), ms);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
