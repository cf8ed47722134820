/**
 * Work Slack does after answering (a listener after its ack, alerts, message
 * updates). Tracked so shutdown can wait for it and tests can wait until the
 * app is quiet. Callers handle their own errors; a rejection here is dropped.
 */
export interface Tasks {
  track(work: Promise<unknown>): void;
  /** Resolves when nothing tracked is pending (or after `timeoutMs`). */
  idle(timeoutMs?: number): Promise<void>;
  readonly pending: number;
}

export function createTasks(): Tasks {
  const pending = new Set<Promise<unknown>>();
  return {
    track(work) {
      const p = work.catch(() => undefined).finally(() => pending.delete(p));
      pending.add(p);
    },
    async idle(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (pending.size && Date.now() < deadline) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.allSettled([...pending]),
          new Promise((r) => {
            timer = setTimeout(r, Math.max(0, deadline - Date.now()));
            timer.unref();
          }),
        ]);
        clearTimeout(timer);
      }
    },
    get pending() {
      return pending.size;
    },
  };
}
