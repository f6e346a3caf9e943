import { type FormEvent, useEffect, useRef, useState } from 'react';
import { registerWithInvite, resetPassword } from '../api/admin';
import type { ApiClient } from '../api/client';
import { ApiError } from '../api/problem';
import type { Session } from '../api/session';
import { Field } from '../components/Field';
import { PasswordChecklist } from '../components/PasswordChecklist';
import { navigate, useNow } from '../lib/hooks';
import { displayNameProblem, PASSWORD_MAX, PASSWORD_MIN, passwordOk, passwordRules, type RuleId, ruleOfServerCode, usernameProblem } from '../lib/password';
import { problemWords } from '../state/admin';

type Errors = Record<string, string[]>;
const FIELD_ORDER = ['username', 'display_name', 'password'];

interface Props {
  mode: 'signin' | 'signup' | 'reset';
  api: ApiClient;
  session: Session;
  notice: string | null;
  onSignedIn: () => void;
  /** Sign-up: the invitation token from `#/register?invite=` (api-v1.1 C). */
  invite?: string | null;
  /** Reset: the token from `#/reset?token=`. */
  resetToken?: string | null;
}

export function AuthPage(props: Props) {
  if (props.mode === 'reset') return <ResetPage api={props.api} session={props.session} token={props.resetToken ?? null} />;
  return <AuthForm {...props} mode={props.mode} />;
}

function AuthForm({ mode, api, session, notice, onSignedIn, invite = null }: Props & { mode: 'signin' | 'signup' }) {
  const [username, setUsername] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [password, setPassword] = useState('');
  const [showPassword, setShowPassword] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [retryUntil, setRetryUntil] = useState<number | null>(null);
  const [focusTick, setFocusTick] = useState(0);
  /** The rules the last submit broke, for the password it was about (the checklist turns them red). */
  const [verdict, setVerdict] = useState<{ password: string; broken: ReadonlySet<RuleId> } | null>(null);
  const formErrorRef = useRef<HTMLDivElement>(null);
  const refs = {
    username: useRef<HTMLInputElement>(null),
    display_name: useRef<HTMLInputElement>(null),
    password: useRef<HTMLInputElement>(null),
  };
  const now = useNow(1000, retryUntil !== null);
  // `now` only ticks every second; read the clock too so the first render after a 429 is exact.
  const secondsLeft = retryUntil === null ? 0 : Math.max(0, Math.ceil((retryUntil - Math.max(now, Date.now())) / 1000));
  const throttled = secondsLeft > 0;

  useEffect(() => {
    if (retryUntil !== null && !throttled) {
      setRetryUntil(null);
      setFormError(null);
    }
  }, [retryUntil, throttled]);

  // Move focus to the first problem after each failed submit.
  useEffect(() => {
    if (focusTick === 0) return;
    const first = FIELD_ORDER.find((f) => errors[f]?.length);
    if (first) refs[first as keyof typeof refs].current?.focus();
    else formErrorRef.current?.focus();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [focusTick]);

  const fail = (errs: Errors, form: string | null) => {
    setErrors(errs);
    setFormError(form);
    setFocusTick((t) => t + 1);
  };

  const validateSignup = (): Errors => {
    const errs: Errors = {};
    const u = usernameProblem(username);
    if (u) errs.username = [u];
    const d = displayNameProblem(displayName);
    if (d) errs.display_name = [d];
    const p: string[] = [];
    const broken = new Set<RuleId>();
    for (const r of passwordRules(password, username)) {
      if (r.met || r.advisory) continue;
      if (r.id === 'length_min') p.push(`Use at least ${PASSWORD_MIN} characters (you used ${[...password].length}).`);
      if (r.id === 'length_max' && password.length > 0) p.push(`Use at most ${PASSWORD_MAX} characters.`);
      if (r.id === 'no_username' && password.length > 0) p.push('Your password must not contain your username.');
      broken.add(r.id);
    }
    if (p.length) errs.password = p;
    setVerdict(broken.size ? { password, broken } : null);
    return errs;
  };

  /** The server's verdict on the password: one line per broken rule (two codes can name one rule). */
  const passwordVerdict = (err: ApiError): string[] => {
    const byRule = new Map<string, string>();
    const broken = new Set<RuleId>();
    for (const e of err.errors) {
      if (e.field !== 'password') continue;
      const rule = ruleOfServerCode(e.code);
      if (rule) broken.add(rule);
      const key = rule ?? e.code;
      if (!byRule.has(key)) byRule.set(key, e.message);
    }
    setVerdict(broken.size ? { password, broken } : null);
    return [...byRule.values()];
  };

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy || throttled) return;
    if (mode === 'signup') {
      const errs = validateSignup();
      if (Object.keys(errs).length) return fail(errs, 'Please fix the highlighted fields.');
    } else if (!username.trim() || !password) {
      return fail(
        { ...(username.trim() ? {} : { username: ['Enter your username.'] }), ...(password ? {} : { password: ['Enter your password.'] }) },
        null,
      );
    }
    setBusy(true);
    setErrors({});
    setFormError(null);
    try {
      if (mode === 'signup') {
        if (invite) await registerWithInvite(api, username.trim().toLowerCase(), displayName.trim(), password, invite);
        else await api.register(username.trim().toLowerCase(), displayName.trim(), password);
      }
      await session.login(username.trim().toLowerCase(), password);
      onSignedIn();
    } catch (err) {
      if (!(err instanceof ApiError)) return fail({}, 'Something went wrong. Please try again.');
      if (err.status === 429) {
        const secs = err.retryAfter ?? 60;
        setRetryUntil(Date.now() + secs * 1000);
        return fail({}, 'too_many_attempts');
      }
      if (mode === 'signin' && err.status === 401) {
        return fail({}, err.detail || 'That username and password do not match. Check them and try again.');
      }
      const byField = err.fieldErrors();
      const known: Errors = {};
      const other: string[] = [];
      for (const [field, msgs] of Object.entries(byField)) {
        if (field === 'password') known.password = passwordVerdict(err);
        else if (FIELD_ORDER.includes(field)) known[field] = msgs;
        else other.push(...msgs);
      }
      if (err.code === 'username_taken' && !known.username) known.username = [err.detail];
      const general = Object.keys(known).length ? (other.length ? other.join(' ') : 'Please fix the highlighted fields.') : problemWords(err.code, err.detail);
      fail(known, general);
    } finally {
      setBusy(false);
    }
  };

  const title = mode === 'signup' ? 'Create your account' : 'Sign in';
  const formMessage =
    formError === 'too_many_attempts'
      ? throttled
        ? `Too many attempts. You can try again in ${secondsLeft} s.`
        : null
      : formError;

  return (
    <main className="auth" id="main">
      <div className="auth__card">
        <div className="brand" aria-hidden="true">
          <span className="brand__logo">◆</span> Chat
        </div>
        <h1>{title}</h1>
        {notice && mode === 'signin' ? <p className="notice">{notice}</p> : null}
        {mode === 'signup' && invite ? <p className="notice">You were invited: create your account below.</p> : null}
        <form onSubmit={onSubmit} noValidate aria-describedby={formMessage ? 'form-error' : undefined}>
          <div id="form-error" ref={formErrorRef} tabIndex={-1} role="alert" className={formMessage ? 'form-error' : 'visually-hidden'}>
            {formMessage}
          </div>
          <Field
            id="username"
            name="username"
            label="Username"
            ref={refs.username}
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            errors={errors.username}
            hint={mode === 'signup' ? '3–32 characters: letters a–z, digits, _ . -' : undefined}
            required
          />
          {mode === 'signup' ? (
            <Field
              id="display_name"
              name="display_name"
              label="Display name"
              ref={refs.display_name}
              autoComplete="name"
              value={displayName}
              onChange={(e) => setDisplayName(e.target.value)}
              errors={errors.display_name}
              hint="The name people see next to your messages."
              required
            />
          ) : null}
          <Field
            id="password"
            name="password"
            label="Password"
            ref={refs.password}
            type={showPassword ? 'text' : 'password'}
            autoComplete={mode === 'signup' ? 'new-password' : 'current-password'}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            errors={errors.password}
            hint={mode === 'signup' ? <PasswordChecklist id="password-rules" password={password} username={username} broken={verdict?.password === password ? verdict.broken : undefined} /> : undefined}
            required
            after={
              <button type="button" className="btn btn--ghost field__toggle" aria-pressed={showPassword} onClick={() => setShowPassword((v) => !v)}>
                {showPassword ? 'Hide' : 'Show'}
              </button>
            }
          />
          <button type="submit" className="btn btn--primary btn--block" disabled={busy || throttled} aria-busy={busy}>
            {busy ? (mode === 'signup' ? 'Creating account…' : 'Signing in…') : throttled ? `Try again in ${secondsLeft} s` : title}
          </button>
        </form>
        <p className="auth__switch">
          {mode === 'signup' ? (
            <>
              Already have an account? <a href="#/signin">Sign in</a>
            </>
          ) : (
            <>
              New here? <a href="#/signup">Create an account</a>
            </>
          )}
        </p>
      </div>
    </main>
  );
}

/** `#/reset?token=…`: choose a new password with a link an administrator made (api-v1.1 C). */
function ResetPage({ api, session, token }: { api: ApiClient; session: Session; token: string | null }) {
  const [password, setPassword] = useState('');
  const [show, setShow] = useState(false);
  const [errors, setErrors] = useState<string[]>([]);
  const [formError, setFormError] = useState<string | null>(
    token ? null : 'This reset link is incomplete. Open the whole link you were given, or ask an administrator for a new one.',
  );
  const [verdict, setVerdict] = useState<{ password: string; broken: ReadonlySet<RuleId> } | null>(null);
  const [busy, setBusy] = useState(false);
  const ref = useRef<HTMLInputElement>(null);
  const errorRef = useRef<HTMLDivElement>(null);

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy || !token) return;
    if (!passwordOk(password, '')) {
      const broken = new Set<RuleId>(passwordRules(password, '').filter((r) => !r.met && !r.advisory).map((r) => r.id));
      setVerdict({ password, broken });
      setErrors([password.length ? 'Your new password does not meet the rules listed below.' : 'Enter a new password.']);
      return ref.current?.focus();
    }
    setBusy(true);
    setErrors([]);
    setFormError(null);
    try {
      await resetPassword(api, token, password);
      // Every session of that account ended, this browser's too if it was the same account.
      if (session.current.kind === 'signed_in') session.signOutLocal('logout');
      navigate('#/signin?reset=done');
    } catch (err) {
      if (err instanceof ApiError && err.errors.some((x) => x.field === 'new_password' || x.field === 'password')) {
        const broken = new Set<RuleId>();
        for (const x of err.errors) {
          const rule = ruleOfServerCode(x.code);
          if (rule) broken.add(rule);
        }
        setVerdict(broken.size ? { password, broken } : null);
        setErrors(err.errors.filter((x) => x.field === 'new_password' || x.field === 'password').map((x) => x.message));
        ref.current?.focus();
      } else {
        setFormError(err instanceof ApiError ? problemWords(err.code, err.detail) : 'Something went wrong. Please try again.');
        errorRef.current?.focus();
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="auth" id="main">
      <div className="auth__card">
        <div className="brand" aria-hidden="true">
          <span className="brand__logo">◆</span> Chat
        </div>
        <h1>Choose a new password</h1>
        <form onSubmit={onSubmit} noValidate>
          <div id="form-error" ref={errorRef} tabIndex={-1} role="alert" className={formError ? 'form-error' : 'visually-hidden'}>
            {formError}
          </div>
          <Field
            id="new-password"
            name="new-password"
            label="New password"
            ref={ref}
            type={show ? 'text' : 'password'}
            autoComplete="new-password"
            value={password}
            onChange={(e) => {
              setPassword(e.target.value);
              setErrors([]);
            }}
            errors={errors}
            hint={<PasswordChecklist id="password-rules" password={password} username="" broken={verdict?.password === password ? verdict.broken : undefined} />}
            required
            after={
              <button type="button" className="btn btn--ghost field__toggle" aria-pressed={show} onClick={() => setShow((v) => !v)}>
                {show ? 'Hide' : 'Show'}
              </button>
            }
          />
          <button type="submit" className="btn btn--primary btn--block" disabled={busy || !token} aria-busy={busy}>
            {busy ? 'Saving…' : 'Set new password'}
          </button>
        </form>
        <p className="auth__switch">
          <a href="#/signin">Back to sign in</a>
        </p>
      </div>
    </main>
  );
}
