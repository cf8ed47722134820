/**
 * Runs `work` one pass at a time in a process: a call while a pass runs asks for one more after it
 * and shares the pass under way. After each pass the next is scheduled `every()` ms later (0 or less:
 * only when called). A pass that throws goes to `onError`; the next poll tries again. Used by the
 * deliverers of outbox rows (outbound events, Slack alerts), which any process may run.
 */
export function createPoller(o: {
  work: () => Promise<void>;
  every: () => number;
  stopped: () => boolean;
  onError: (err: unknown) => void;
  /** Gets each pass (tests wait on it; shutdown too). */
  track?: (pass: Promise<unknown>) => void;
}): { pass(): Promise<void>; stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    clearTimeout(timer);
    const ms = o.every();
    if (o.stopped() || ms <= 0) return;
    timer = setTimeout(() => void pass(), ms);
    timer.unref();
  };
  function pass(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    const work = (async () => {
      do {
        again = false;
        await o.work();
      } while (again && !o.stopped());
    })()
      .catch(o.onError)
      .finally(() => {
        running = null;
        schedule();
      });
    running = work;
    o.track?.(work);
    return work;
  }
  return {
    pass,
    /** Cancels the next poll and waits for the pass under way. */
    async stop() {
      clearTimeout(timer);
      await running;
    },
  };
}
