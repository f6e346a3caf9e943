// @vitest-environment happy-dom
// The notice for a socket the gateway refused with too_many_connections (api-v1.1 F): plain words and a
// Try again button, instead of a reconnect countdown.
import { act, createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { describe, expect, it, vi } from 'vitest';
import { ChatContext } from '../lib/chat';
import { make } from '../test/controllerHarness';
import { ConnectionBanner } from './ConnectionBanner';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

function banner(status: 'refused' | 'reconnecting', onRetry: () => void = () => undefined): HTMLElement {
  const { c } = make();
  c.store.set((s) => ({ ...s, connection: { ...s.connection, status, retryAt: null } }));
  const host = document.createElement('div');
  document.body.append(host);
  act(() => createRoot(host).render(createElement(ChatContext.Provider, { value: c }, createElement(ConnectionBanner, { onRetry }))));
  return host;
}

describe('ConnectionBanner', () => {
  it('too many connections: says why and offers Try again, no countdown', () => {
    const onRetry = vi.fn();
    const host = banner('refused', onRetry);
    expect(host.textContent).toContain('This account has too many chat windows open. Close some of them, then try again.');
    expect(host.textContent).not.toContain('Reconnecting');
    const button = host.querySelector('button')!;
    expect(button.textContent).toBe('Try again');
    act(() => button.click());
    expect(onRetry).toHaveBeenCalledTimes(1);
  });

  it('reconnecting is unchanged', () => {
    const host = banner('reconnecting');
    expect(host.textContent).toContain('Reconnecting…');
    expect(host.querySelector('button')!.textContent).toBe('Retry now');
  });
});
