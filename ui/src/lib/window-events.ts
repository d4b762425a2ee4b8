/**
 * Listens to window CustomEvents (the ones lib/live.ts relays from the socket) for as long as the
 * component lives, from the moment the document is ready (not when the component scrolls into view).
 * One task for all of a component's events: one small script, loaded with the page.
 *
 * @example
 * useWindowEvents({ 'livia-wa-message': $((e: Event) => console.log((e as CustomEvent<WaMessage>).detail)) });
 */
import { useVisibleTask$, type QRL } from '@builder.io/qwik';

export function useWindowEvents(handlers: Record<string, QRL<(e: Event) => unknown>>): void {
  useVisibleTask$(
    ({ cleanup }) => {
      const on = Object.entries(handlers).map(([name, handler]) => [name, (e: Event) => void handler(e)] as const);
      for (const [name, fn] of on) window.addEventListener(name, fn);
      cleanup(() => {
        for (const [name, fn] of on) window.removeEventListener(name, fn);
      });
    },
    { strategy: 'document-ready' },
  );
}
