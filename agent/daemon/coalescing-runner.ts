/**
 * Runs an async task one run at a time, folding requests together: a request
 * made while a run is already waiting joins that run, so a burst of registry
 * events costs one run after the current one, and the last request is always
 * followed by a run that sees its state.
 */
export class CoalescingRunner {
  #pending: Promise<void> = Promise.resolve();
  #waiting = false;

  /** `onError` gets what a run throws; the chain goes on regardless. */
  constructor(
    private readonly task: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Resolves when the run that serves this request has finished. */
  request(): Promise<void> {
    if (!this.#waiting) {
      this.#waiting = true;
      this.#pending = this.#pending.then(async () => {
        this.#waiting = false;
        try {
          await this.task();
        } catch (err) {
          this.onError(err);
        }
      });
    }
    return this.#pending;
  }

  /** Resolves once every requested run has finished. */
  settled(): Promise<void> {
    return this.#pending;
  }
}
