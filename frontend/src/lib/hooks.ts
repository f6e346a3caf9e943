import { type MouseEvent, type PointerEvent, type RefObject, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { longPress } from './longPress';
import type { Store } from '../state/store';

export function useStore<S, T>(store: Store<S>, select: (s: S) => T): T {
  return useSyncExternalStore(store.subscribe, () => select(store.get()));
}

/** Re-render every `ms` (for countdowns and "5 min ago"). */
export function useNow(ms = 1000, enabled = true): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!enabled) return;
    const id = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(id);
  }, [ms, enabled]);
  return now;
}

export function useHashRoute(): string {
  const [hash, setHash] = useState(() => window.location.hash);
  useEffect(() => {
    const on = () => setHash(window.location.hash);
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return hash;
}

export function navigate(hash: string): void {
  if (window.location.hash !== hash) window.location.hash = hash;
}

/** Keeps `--app-height` equal to the visual viewport so the composer stays above the keyboard. */
export function useVisualViewportHeight(): void {
  useEffect(() => {
    const vv = window.visualViewport;
    if (!vv) return;
    const root = document.documentElement;
    const update = () => root.style.setProperty('--app-height', `${Math.round(vv.height)}px`);
    update();
    vv.addEventListener('resize', update);
    return () => vv.removeEventListener('resize', update);
  }, []);
}

/**
 * Long-press (touch and pen) on an element: spread `handlers` on it and call `consumeClick()`
 * first thing in its onClick (true: the click ends a long-press, ignore it). The browser's own
 * long-press menu is suppressed for touch.
 */
export function useLongPress(onLongPress: () => void) {
  const cb = useRef(onLongPress);
  useEffect(() => {
    cb.current = onLongPress;
  });
  const [lp] = useState(() => longPress(() => cb.current(), globalThis));
  const touch = useRef(false);
  useEffect(() => () => lp.cancel(), [lp]);
  return {
    handlers: {
      onPointerDown: (e: PointerEvent) => {
        touch.current = e.pointerType !== 'mouse';
        lp.down(e);
      },
      onPointerMove: (e: PointerEvent) => lp.move(e),
      onPointerUp: () => lp.up(),
      onPointerCancel: () => lp.cancel(),
      onContextMenu: (e: MouseEvent) => {
        if (touch.current) e.preventDefault();
      },
    },
    consumeClick: () => lp.consumeClick(),
  };
}

/**
 * For a sheet or dialog a long-press opens: the lift that ends the long-press must not press
 * whatever now lies under the finger. Pointer clicks count only after a press that started inside
 * (keyboard clicks, `detail` 0, always count). Spread the handlers on the dialog element.
 */
export function useFreshPressOnly() {
  const armed = useRef(false);
  return {
    onPointerDownCapture: () => {
      armed.current = true;
    },
    onClickCapture: (e: MouseEvent) => {
      if (!armed.current && e.detail !== 0) {
        e.preventDefault();
        e.stopPropagation();
      }
    },
  };
}

/**
 * A disclosure (popover) inside `box`: while open, focus goes to `focusOnOpen`; Escape closes it
 * and gives focus back to `toggle`; a pointer press outside closes it.
 */
export function useDisclosure(box: RefObject<HTMLElement | null>, open: boolean, close: () => void, focusOnOpen: string, toggle: string): void {
  useEffect(() => {
    if (!open) return;
    box.current?.querySelector<HTMLElement>(focusOnOpen)?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape') return;
      close();
      box.current?.querySelector<HTMLElement>(toggle)?.focus();
    };
    const onDown = (e: globalThis.PointerEvent) => {
      if (!box.current?.contains(e.target as Node)) close();
    };
    window.addEventListener('keydown', onKey);
    window.addEventListener('pointerdown', onDown);
    return () => {
      window.removeEventListener('keydown', onKey);
      window.removeEventListener('pointerdown', onDown);
    };
  }, [box, open, close, focusOnOpen, toggle]);
}
