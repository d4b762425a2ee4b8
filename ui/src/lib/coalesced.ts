/**
 * A task that never runs twice at once: a call while it runs makes it run once more afterwards
 * (any number of such calls coalesce into that one run). The pages' catch-up reads on each live
 * connect use it, so a reconnect during a read is not missed and reads do not pile up.
 *
 * @example
 * const catchUp = coalesced(async () => { await readAgain(); });
 * window.addEventListener('livia-connected', () => void catchUp());
 */
export function coalesced(task: () => Promise<void>): () => Promise<void> {
  let running = false;
  let again = false;
  return async () => {
    again = true;
    if (running) return;
    running = true;
    try {
      while (again) {
        again = false;
        await task();
      }
    } finally {
      running = false;
    }
  };
}
