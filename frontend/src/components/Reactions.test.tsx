import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { User } from '../api/types';
import { Reactions, reactorsText } from './Reactions';

const user = (id: string, display_name: string): User => ({ id, username: id, display_name, created_at: '2026-11-01T10:00:00Z' }) as User;
const users = { a: user('a', 'Ana Lima'), b: user('b', 'Bo Chen'), c: user('c', '<b>Cy</b>') };

describe('who reacted', () => {
  it('names people, me as "You", unknown ids as "Someone", and counts the ones the server did not name', () => {
    expect(reactorsText({ count: 1, user_ids: ['a'] }, users, 'me')).toBe('Ana Lima');
    expect(reactorsText({ count: 2, user_ids: ['a', 'me'] }, users, 'me')).toBe('Ana Lima and You');
    expect(reactorsText({ count: 3, user_ids: ['a', 'b', 'x'] }, users, 'me')).toBe('Ana Lima, Bo Chen and Someone');
    expect(reactorsText({ count: 52, user_ids: ['a', 'b'] }, users, 'me')).toBe('Ana Lima, Bo Chen and 50 others');
    expect(reactorsText({ count: 3, user_ids: ['a', 'b'] }, users, 'me')).toBe('Ana Lima, Bo Chen and 1 other');
  });
});

describe('reaction chips', () => {
  const noop = () => undefined;
  const render = (canReact: boolean) =>
    renderToStaticMarkup(
      <Reactions
        messageKey="m1"
        reactions={[
          { emoji: '👍', count: 2, user_ids: ['a', 'me'], mine: true },
          { emoji: '🎉', count: 1, user_ids: ['c'], mine: false },
        ]}
        users={users}
        meId="me"
        canReact={canReact}
        onToggle={noop}
        onShowWho={noop}
        onAdd={noop}
      />,
    );

  it('mine is pressed; each chip describes who reacted; names are text, never markup', () => {
    const html = render(true);
    expect(html).toContain('aria-pressed="true" aria-label="👍 2, remove your reaction"');
    expect(html).toContain('aria-pressed="false" aria-label="🎉 1, react with this too"');
    expect(html).toContain('>Ana Lima and You</span>');
    expect(html).toContain('&lt;b&gt;Cy&lt;/b&gt;');
    expect(html).not.toContain('<b>');
    expect(html).toContain('aria-label="Add a reaction"');
  });

  it('without the right to react (feature off): counts only, no add button', () => {
    const html = render(false);
    expect(html).not.toContain('Add a reaction');
    expect(html).toContain('aria-label="👍 2"');
  });

  it('no chips, no list', () => {
    expect(renderToStaticMarkup(<Reactions messageKey="m" reactions={[]} users={users} meId="me" canReact onToggle={noop} onShowWho={noop} onAdd={noop} />)).toBe('');
  });
});
