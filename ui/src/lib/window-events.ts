/**
 * Listens to a window CustomEvent (the ones lib/live.ts relays from the socket) for as long as the
 * component lives, from the moment the document is ready (not when the component scrolls into view).
 *
 * @example
 * useWindowEvent('livia-wa-message', $((e: Event) => console.log((e as CustomEvent<WaMessage>).detail)));
 */
import { useVisibleTask$, type QRL } from '@builder.io/qwik';

export function useWindowEvent(name: string, handler: QRL<(e: Event) => unknown>): void {
  useVisibleTask$(
    ({ cleanup }) => {
      const on = (e: Event) => void handler(e);
      window.addEventListener(name, on);
      cleanup(() => window.removeEventListener(name, on));
    },
    { strategy: 'document-ready' },
  );
}
