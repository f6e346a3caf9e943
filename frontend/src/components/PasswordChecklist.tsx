import { passwordRules } from '../lib/password';

export function PasswordChecklist({ password, username, id }: { password: string; username: string; id: string }) {
  const rules = passwordRules(password, username);
  return (
    <ul id={id} className="checklist" aria-label="Password rules">
      {rules.map((r) => (
        <li key={r.id} className={r.met ? 'checklist__item checklist__item--met' : 'checklist__item'} data-rule={r.id}>
          <span className="checklist__mark" aria-hidden="true">
            {r.met ? '✓' : '•'}
          </span>
          <span>
            {r.label}
            <span className="visually-hidden">{r.met ? ' (met)' : r.advisory ? ' (checked when you submit)' : ' (not met yet)'}</span>
          </span>
        </li>
      ))}
    </ul>
  );
}
