// Long-press on touch screens: a finger held still for LONG_PRESS_MS fires once. Moving more than
// MOVE_TOLERANCE_PX (a scroll), lifting early (a tap) or a cancel stops it. After it fired, the
// click that follows the lift is swallowed so a long-press never also counts as a tap.
// Framework-free (timers are injected) so the timing is unit-tested.

export const LONG_PRESS_MS = 500;
export const MOVE_TOLERANCE_PX = 10;

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export interface PointerLike {
  pointerType: string;
  clientX: number;
  clientY: number;
}

export interface LongPress {
  down(e: PointerLike): void;
  move(e: PointerLike): void;
  up(): void;
  cancel(): void;
  /** True (once) when the click after a lift should be ignored because a long-press fired. */
  consumeClick(): boolean;
}

export function longPress(onLongPress: () => void, timers: Timers, ms = LONG_PRESS_MS): LongPress {
  let timer: unknown = null;
  let start: { x: number; y: number } | null = null;
  let fired = false;
  const stop = () => {
    if (timer !== null) timers.clearTimeout(timer);
    timer = null;
    start = null;
  };
  return {
    down(e) {
      stop();
      fired = false;
      // A mouse has hover and a right button; long-press is for fingers and pens.
      if (e.pointerType === 'mouse') return;
      start = { x: e.clientX, y: e.clientY };
      timer = timers.setTimeout(() => {
        timer = null;
        start = null;
        fired = true;
        onLongPress();
      }, ms);
    },
    move(e) {
      if (!start) return;
      if (Math.hypot(e.clientX - start.x, e.clientY - start.y) > MOVE_TOLERANCE_PX) stop();
    },
    up: stop,
    cancel: stop,
    consumeClick() {
      const f = fired;
      fired = false;
      return f;
    },
  };
}
