import { describe, expect, it } from 'vitest';
import { addTyping, clearTyping, expireTyping, shouldSendTyping, typingText, typingUsers } from './typing';

describe('typing indicator', () => {
  it('shows for 5 s after the last frame, then expires', () => {
    let s = addTyping({}, 'r', 'ana', 1000);
    expect(typingUsers(s, 'r', 5999)).toEqual(['ana']);
    expect(typingUsers(s, 'r', 6000)).toEqual([]);
    s = addTyping(s, 'r', 'ana', 4000); // another frame extends it
    expect(typingUsers(s, 'r', 8999)).toEqual(['ana']);
    expect(expireTyping(s, 9000)).toEqual({});
  });

  it('clears when that person\'s message arrives', () => {
    const s = clearTyping(addTyping({}, 'r', 'ana', 0), 'r', 'ana');
    expect(typingUsers(s, 'r', 1)).toEqual([]);
  });

  it('reads naturally', () => {
    expect(typingText(['Ana'])).toBe('Ana is typing…');
    expect(typingText(['Ana', 'Bo'])).toBe('Ana and Bo are typing…');
    expect(typingText(['Ana', 'Bo', 'Cy'])).toBe('Several people are typing…');
    expect(typingText([])).toBe('');
  });

  it('sends typing at most every 3 s', () => {
    expect(shouldSendTyping(undefined, 0)).toBe(true);
    expect(shouldSendTyping(0, 2999)).toBe(false);
    expect(shouldSendTyping(0, 3000)).toBe(true);
  });
});
