import { useEffect, useRef } from 'react';

/** Calls `fn` now and every `ms` while the page is visible (live updates by polling); `deps` restart it. */
export function usePoll(fn: () => Promise<unknown> | void, ms: number, deps: unknown[]): void {
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      if (stopped) return;
      if (document.visibilityState === 'visible') await Promise.resolve(latest.current()).catch(() => undefined);
      if (!stopped) timer = setTimeout(tick, ms);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [ms, ...deps]);
}
