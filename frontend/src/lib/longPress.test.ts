import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LONG_PRESS_MS, longPress } from './longPress';

const finger = (x = 10, y = 10) => ({ pointerType: 'touch', clientX: x, clientY: y });
const timers = { setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (id: unknown) => clearTimeout(id as ReturnType<typeof setTimeout>) };

describe('long-press timing', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires once after the finger is held still for LONG_PRESS_MS, and swallows the click after', () => {
    const fire = vi.fn();
    const lp = longPress(fire, timers);
    lp.down(finger());
    vi.advanceTimersByTime(LONG_PRESS_MS - 1);
    expect(fire).not.toHaveBeenCalled();
    lp.move(finger(13, 14)); // a tremble within tolerance
    vi.advanceTimersByTime(1);
    expect(fire).toHaveBeenCalledTimes(1);
    lp.up();
    expect(lp.consumeClick()).toBe(true);
    expect(lp.consumeClick()).toBe(false);
    vi.advanceTimersByTime(5000);
    expect(fire).toHaveBeenCalledTimes(1);
  });

  it('a tap (lifted early) does not fire and its click goes through', () => {
    const fire = vi.fn();
    const lp = longPress(fire, timers);
    lp.down(finger());
    vi.advanceTimersByTime(300);
    lp.up();
    vi.advanceTimersByTime(1000);
    expect(fire).not.toHaveBeenCalled();
    expect(lp.consumeClick()).toBe(false);
  });

  it('moving more than the tolerance (a scroll) or a cancel stops it', () => {
    const fire = vi.fn();
    const lp = longPress(fire, timers);
    lp.down(finger());
    lp.move(finger(10, 30));
    vi.advanceTimersByTime(1000);
    lp.down(finger());
    lp.cancel();
    vi.advanceTimersByTime(1000);
    expect(fire).not.toHaveBeenCalled();
  });

  it('ignores the mouse (it has hover and a context menu)', () => {
    const fire = vi.fn();
    const lp = longPress(fire, timers);
    lp.down({ pointerType: 'mouse', clientX: 0, clientY: 0 });
    vi.advanceTimersByTime(2000);
    expect(fire).not.toHaveBeenCalled();
  });

  it('a second press restarts the wait', () => {
    const fire = vi.fn();
    const lp = longPress(fire, timers);
    lp.down(finger());
    vi.advanceTimersByTime(400);
    lp.down(finger());
    vi.advanceTimersByTime(400);
    expect(fire).not.toHaveBeenCalled();
    vi.advanceTimersByTime(100);
    expect(fire).toHaveBeenCalledTimes(1);
  });
});
