// Blocking state, the hidden-entry rule, group direct rooms and the people picker's limits (api-v1.1 C).
import { describe, expect, it } from 'vitest';
import { blocksLoaded, directPartner, directRequest, groupTitle, hiddenByBlock, isBlocked, isGroupDirect, isSharedRoom, MAX_DIRECT_OTHERS, noBlocks, togglePick, withBlock } from './blocks';

const channel = { kind: 'channel' as const, member_count: 5, name: 'general' };
const oneToOne = { kind: 'direct' as const, member_count: 2, name: 'ana, bo' };
const group = { kind: 'direct' as const, member_count: 3, name: 'ana, bo, cy' };

describe('blocks state', () => {
  it('starts empty and not loaded: nothing is hidden until the list comes', () => {
    expect(noBlocks).toEqual({ ids: [], loaded: false });
    expect(hiddenByBlock('bo', 'me', channel, noBlocks, new Set(), 'k')).toBe(false);
  });

  it('loads the list (each person once) and follows my block and unblock, newest first', () => {
    let s = blocksLoaded(['bo', 'cy', 'bo']);
    expect(s).toEqual({ ids: ['bo', 'cy'], loaded: true });
    s = withBlock(s, 'dee', true);
    expect(s.ids).toEqual(['dee', 'bo', 'cy']);
    expect(withBlock(s, 'dee', true)).toBe(s); // already blocked: unchanged
    s = withBlock(s, 'bo', false);
    expect(s.ids).toEqual(['dee', 'cy']);
    expect(withBlock(s, 'bo', false)).toBe(s);
    expect(isBlocked(s, 'cy')).toBe(true);
    expect(isBlocked(s, 'bo')).toBe(false);
    expect(isBlocked(s, undefined)).toBe(false);
  });
});

describe('hidden entries', () => {
  const blocks = blocksLoaded(['bo']);
  it('hides a blocked person’s entries in channels and group direct rooms', () => {
    expect(hiddenByBlock('bo', 'me', channel, blocks, new Set(), 'k1')).toBe(true);
    expect(hiddenByBlock('bo', 'me', group, blocks, new Set(), 'k1')).toBe(true);
  });
  it('never in our 1:1 room (its composer says so instead), never mine, never someone not blocked', () => {
    expect(hiddenByBlock('bo', 'me', oneToOne, blocks, new Set(), 'k1')).toBe(false);
    expect(hiddenByBlock('me', 'me', channel, blocksLoaded(['me']), new Set(), 'k1')).toBe(false);
    expect(hiddenByBlock('cy', 'me', channel, blocks, new Set(), 'k1')).toBe(false);
    expect(hiddenByBlock('bo', 'me', undefined, blocks, new Set(), 'k1')).toBe(false);
  });
  it('"Show" reveals that one entry only', () => {
    const revealed = new Set(['k1']);
    expect(hiddenByBlock('bo', 'me', channel, blocks, revealed, 'k1')).toBe(false);
    expect(hiddenByBlock('bo', 'me', channel, blocks, revealed, 'k2')).toBe(true);
  });
});

describe('group direct rooms', () => {
  it('a direct room of more than two, also after someone left (its name lists everyone)', () => {
    expect(isGroupDirect(group)).toBe(true);
    expect(isGroupDirect({ ...group, member_count: 2 })).toBe(true);
    expect(isGroupDirect(oneToOne)).toBe(false);
    expect(isGroupDirect(channel)).toBe(false);
    expect(isSharedRoom(channel)).toBe(true);
    expect(isSharedRoom(oneToOne)).toBe(false);
  });
  it('the 1:1 partner only in a 1:1 room that is not notes to self', () => {
    expect(directPartner(oneToOne, 'bo', 'me')).toBe('bo');
    expect(directPartner(group, 'bo', 'me')).toBeNull();
    expect(directPartner(channel, 'bo', 'me')).toBeNull();
    expect(directPartner(oneToOne, 'me', 'me')).toBeNull();
  });
  it('is titled by the other members’ names, sorted; the server’s name until members load', () => {
    const users = { bo: { display_name: 'Bo Chen', username: 'bo' }, cy: { display_name: 'Cy Diaz', username: 'cy' } };
    const members = [{ user_id: 'me' }, { user_id: 'cy' }, { user_id: 'bo' }];
    expect(groupTitle(group, members, users, 'me')).toBe('Bo Chen, Cy Diaz');
    expect(groupTitle(group, undefined, users, 'me')).toBe('ana, bo, cy');
    expect(groupTitle(group, [{ user_id: 'me' }, { user_id: 'zed' }], users, 'me')).toBe('Someone');
  });
});

describe('people picker', () => {
  const people = Array.from({ length: 10 }, (_, i) => ({ id: `u${i}` }));
  it('one person is a 1:1 room, 2..8 a group; none or more than 8 is nothing to send', () => {
    expect(directRequest([])).toBeNull();
    expect(directRequest(people.slice(0, 1))).toEqual({ user_id: 'u0' });
    expect(directRequest(people.slice(0, 2))).toEqual({ user_ids: ['u0', 'u1'] });
    expect(directRequest(people.slice(0, 8))).toEqual({ user_ids: people.slice(0, 8).map((p) => p.id) });
    expect(directRequest(people.slice(0, 9))).toBeNull();
  });
  it('adds up to eight, a ninth is not added; picking again takes someone out', () => {
    let sel: readonly { id: string }[] = [];
    for (const p of people) sel = togglePick(sel, p);
    expect(sel.map((p) => p.id)).toEqual(people.slice(0, MAX_DIRECT_OTHERS).map((p) => p.id));
    sel = togglePick(sel, people[3]!);
    expect(sel).toHaveLength(7);
    expect(sel.some((p) => p.id === 'u3')).toBe(false);
    sel = togglePick(sel, people[9]!);
    expect(sel.at(-1)).toEqual({ id: 'u9' });
  });
});
