/**
 * A process's periodic sweep (knowledge's stored documents, drafts' approval SLAs): the first run
 * after `firstRunMs`, then each `intervalMs` after the previous run ended (never two at once), the
 * timer not keeping the process alive; a failed run is reported and the next one still comes.
 * `stop()` cancels the next run and waits for the one in progress.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private halted = false;

  constructor(
    private readonly run: () => Promise<unknown>,
    private readonly onError: (err: Error) => void,
  ) {}

  start(firstRunMs: number, intervalMs: number): void {
    this.schedule(firstRunMs, intervalMs);
  }

  /** Whether stop() was called: a run in progress may end early. */
  get stopped(): boolean {
    return this.halted;
  }

  async stop(): Promise<void> {
    this.halted = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(delayMs: number, intervalMs: number): void {
    if (this.halted) return;
    this.timer = setTimeout(() => {
      this.running = this.run().then(
        () => undefined,
        (err: Error) => this.onError(err),
      );
      void this.running.finally(() => this.schedule(intervalMs, intervalMs));
    }, delayMs);
    this.timer.unref();
  }
}
