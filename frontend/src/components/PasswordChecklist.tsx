import { passwordRules, type RuleId } from '../lib/password';

/**
 * The password rules, ticked while typing. `broken` is the last submit's verdict for this very
 * password (the server's included): those rules turn red, whatever the browser could tell.
 */
export function PasswordChecklist({ password, username, id, broken }: { password: string; username: string; id: string; broken?: ReadonlySet<RuleId> }) {
  const rules = passwordRules(password, username);
  return (
    <ul id={id} className="checklist" aria-label="Password rules">
      {rules.map((r) => {
        const failed = broken?.has(r.id) ?? false;
        const met = r.met && !failed;
        const cls = ['checklist__item', met ? 'checklist__item--met' : '', failed ? 'checklist__item--failed' : ''].filter(Boolean).join(' ');
        return (
          <li key={r.id} className={cls} data-rule={r.id}>
            <span className="checklist__mark" aria-hidden="true">
              {failed ? '✗' : met ? '✓' : '•'}
            </span>
            <span>
              {r.label}
              <span className="visually-hidden">{failed ? ' (not met)' : met ? ' (met)' : r.advisory ? ' (checked when you submit)' : ' (not met yet)'}</span>
            </span>
          </li>
        );
      })}
    </ul>
  );
}
