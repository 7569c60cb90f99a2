/**
 * A consumer's wait after a failed batch or a lost connection: 500 ms doubling up to 15 s, back to
 * 500 ms after a success (`reset`); `cancel` ends a wait at once (close()). Shared by the adapters
 * that run their own consume loop (platformatic, in-process).
 */
export const BACKOFF_INITIAL_MS = 500;
export const BACKOFF_MAX_MS = 15_000;

export class ConsumerBackoff {
  private nextMs = BACKOFF_INITIAL_MS;
  private cancelWait?: () => void;

  reset(): void {
    this.nextMs = BACKOFF_INITIAL_MS;
  }

  /** Waits the current delay (then doubles it), unless `cancel` ends the wait first. */
  async wait(): Promise<void> {
    const ms = this.nextMs;
    this.nextMs = Math.min(this.nextMs * 2, BACKOFF_MAX_MS);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      this.cancelWait = done;
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    });
    this.cancelWait = undefined;
  }

  cancel(): void {
    this.cancelWait?.();
  }
}
