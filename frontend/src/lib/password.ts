// The password checklist shown while typing. It mirrors the server's length and username rules
// (api-v1 §3); the server's common-password and guessability verdicts come back as `errors`.

export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 128;

export type RuleId = 'length_min' | 'length_max' | 'no_username' | 'not_guessable';

export interface Rule {
  id: RuleId;
  label: string;
  met: boolean;
  /** Rules the browser cannot check fully are shown as advice, ticked only when plausible. */
  advisory: boolean;
}

/** Length in Unicode code points, as the server counts. */
export function codePoints(s: string): number {
  return [...s].length;
}

export function passwordRules(password: string, username: string): Rule[] {
  const n = codePoints(password);
  const user = username.trim().toLowerCase();
  const containsUser = user.length > 0 && password.toLowerCase().includes(user);
  return [
    { id: 'length_min', label: `At least ${PASSWORD_MIN} characters${n > 0 && n < PASSWORD_MIN ? ` (${n} so far)` : ''}`, met: n >= PASSWORD_MIN, advisory: false },
    { id: 'length_max', label: `At most ${PASSWORD_MAX} characters`, met: n > 0 && n <= PASSWORD_MAX, advisory: false },
    { id: 'no_username', label: 'Does not contain your username', met: n > 0 && !containsUser, advisory: false },
    {
      id: 'not_guessable',
      label: 'Not a common or easily guessed password (a few unrelated words work well)',
      met: n >= PASSWORD_MIN && !looksGuessable(password),
      advisory: true,
    },
  ];
}

/** The checklist rule a server refusal code (auth-service, api-v1 §3) is about, if any. */
export function ruleOfServerCode(code: string): RuleId | null {
  switch (code) {
    case 'too_short':
      return 'length_min';
    case 'too_long':
      return 'length_max';
    case 'contains_username':
      return 'no_username';
    case 'common_password':
    case 'too_guessable':
      return 'not_guessable';
    default:
      return null;
  }
}

export function passwordOk(password: string, username: string): boolean {
  return passwordRules(password, username).every((r) => r.advisory || r.met);
}

/** Cheap hints only; the server's zxcvbn has the final word. */
function looksGuessable(p: string): boolean {
  if (/^(.)\1+$/.test(p)) return true;
  if (/^(?:0123456789|1234567890|abcdefghij|qwertyuiop|password)/i.test(p)) return true;
  return new Set(p).size < 5;
}

/** Username rule from api-v1 §3: 3–32 of a-z 0-9 _ . - (compared lower-case). */
export function usernameProblem(u: string): string | null {
  const v = u.trim().toLowerCase();
  if (v.length === 0) return 'Choose a username.';
  if (v.length < 3) return 'Use at least 3 characters.';
  if (v.length > 32) return 'Use at most 32 characters.';
  if (!/^[a-z0-9_.-]+$/.test(v)) return 'Use only letters a–z, digits, and _ . -';
  return null;
}

export function displayNameProblem(d: string): string | null {
  const v = d.trim();
  if (v.length === 0) return 'Enter the name people will see.';
  if (codePoints(v) > 64) return 'Use at most 64 characters.';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) return 'Remove control characters.';
  return null;
}
