import { forwardRef, type InputHTMLAttributes, type ReactNode } from 'react';

interface FieldProps extends InputHTMLAttributes<HTMLInputElement> {
  id: string;
  label: string;
  errors?: string[];
  hint?: ReactNode;
  after?: ReactNode;
}

/** Label, input, hint and the field's error list, wired with aria-describedby/aria-invalid. */
export const Field = forwardRef<HTMLInputElement, FieldProps>(function Field({ id, label, errors = [], hint, after, ...input }, ref) {
  const describedBy = [hint ? `${id}-hint` : '', errors.length ? `${id}-errors` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${errors.length ? ' field--invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      <div className="field__control">
        <input ref={ref} id={id} aria-invalid={errors.length ? true : undefined} aria-describedby={describedBy} {...input} />
        {after}
      </div>
      {hint ? (
        <div id={`${id}-hint`} className="field__hint">
          {hint}
        </div>
      ) : null}
      {errors.length ? (
        <ul id={`${id}-errors`} className="field__errors">
          {errors.map((e) => (
            <li key={e}>{e}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
});
