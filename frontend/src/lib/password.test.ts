import { describe, expect, it } from 'vitest';
import { codePoints, displayNameProblem, passwordOk, passwordRules, usernameProblem } from './password';

const met = (p: string, u: string) => Object.fromEntries(passwordRules(p, u).map((r) => [r.id, r.met]));

describe('password checklist (mirrors the server rules)', () => {
  it('ticks nothing for an empty password', () => {
    expect(met('', 'ana')).toEqual({ length_min: false, length_max: false, no_username: false, not_guessable: false });
  });

  it('needs 12 code points, counted like the server', () => {
    expect(met('short', 'ana').length_min).toBe(false);
    expect(met('correct horse', 'ana').length_min).toBe(true);
    expect(codePoints('🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂')).toBe(12);
    expect(met('🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂', 'ana').length_min).toBe(true);
    expect(passwordRules('short', 'ana')[0]?.label).toContain('(5 so far)');
  });

  it('refuses more than 128', () => {
    expect(met('x'.repeat(129), 'ana').length_max).toBe(false);
    expect(met('x'.repeat(128), 'ana').length_max).toBe(true);
  });

  it('refuses a password that contains the username, case-insensitively', () => {
    expect(met('my-ANA-password-1', 'ana').no_username).toBe(false);
    expect(met('correct horse battery', 'ana').no_username).toBe(true);
  });

  it('lets the server judge guessability but hints at obvious cases', () => {
    expect(met('aaaaaaaaaaaaaa', 'bo').not_guessable).toBe(false);
    expect(met('lantern orbit mosaic', 'bo').not_guessable).toBe(true);
    expect(passwordOk('aaaaaaaaaaaaaa', 'bo')).toBe(true); // advisory only; the server decides
    expect(passwordOk('short', 'bo')).toBe(false);
  });

  it('checks username and display name like the server', () => {
    expect(usernameProblem('ab')).toMatch(/at least 3/);
    expect(usernameProblem('Ana Lima')).toMatch(/only letters/);
    expect(usernameProblem('ana.lima_2')).toBeNull();
    expect(displayNameProblem('   ')).toMatch(/Enter/);
    expect(displayNameProblem('Ana\u0007')).toMatch(/control/);
    expect(displayNameProblem('Ana Lima')).toBeNull();
  });
});
