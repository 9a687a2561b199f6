/** Rejected by `deadline` when the work took too long. */
export class DeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not answer within ${ms} ms`);
    this.name = 'DeadlineError';
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
