import type { User } from '../api/types';
import { useLongPress } from '../lib/hooks';
import { SmilePlusIcon } from './Icons';

export interface ReactionChip {
  emoji: string;
  count: number;
  user_ids: string[];
  mine: boolean;
}

/** "Ana, Bo and 3 others" for the people who reacted (the server names at most the first 50). */
export function reactorsText(r: Pick<ReactionChip, 'count' | 'user_ids'>, users: Record<string, User>, meId: string): string {
  const names = r.user_ids.map((id) => (id === meId ? 'You' : (users[id]?.display_name ?? 'Someone')));
  const others = Math.max(0, r.count - names.length);
  if (others) names.push(`${others} other${others === 1 ? '' : 's'}`);
  if (names.length <= 1) return names[0] ?? '';
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/**
 * The chips under a message: emoji and count; mine are highlighted and a click toggles mine.
 * Who reacted shows on hover or focus (desktop) and on a long-press (phone, `onShowWho`).
 */
export function Reactions({
  messageKey, reactions, users, meId, canReact, onToggle, onShowWho, onAdd,
}: {
  messageKey: string;
  reactions: readonly ReactionChip[];
  users: Record<string, User>;
  meId: string;
  canReact: boolean;
  onToggle: (emoji: string) => void;
  onShowWho: (emoji: string) => void;
  onAdd: (anchor: HTMLElement) => void;
}) {
  if (!reactions.length) return null;
  return (
    <ul className="reactions" aria-label="Reactions">
      {reactions.map((r, i) => (
        <Chip key={r.emoji} id={`who-${messageKey}-${i}`} r={r} who={reactorsText(r, users, meId)} canReact={canReact} onToggle={onToggle} onShowWho={onShowWho} />
      ))}
      {canReact ? (
        <li>
          <button type="button" className="chip chip--add" aria-label="Add a reaction" onClick={(e) => onAdd(e.currentTarget)}>
            <SmilePlusIcon />
          </button>
        </li>
      ) : null}
    </ul>
  );
}

function Chip({ id, r, who, canReact, onToggle, onShowWho }: { id: string; r: ReactionChip; who: string; canReact: boolean; onToggle: (e: string) => void; onShowWho: (e: string) => void }) {
  const lp = useLongPress(() => onShowWho(r.emoji));
  const action = r.mine ? 'remove your reaction' : 'react with this too';
  return (
    <li className="reaction">
      <button
        type="button"
        className={`chip${r.mine ? ' chip--mine' : ''}`}
        aria-pressed={r.mine}
        aria-label={`${r.emoji} ${r.count}${canReact ? `, ${action}` : ''}`}
        aria-describedby={id}
        data-emoji={r.emoji}
        {...lp.handlers}
        onClick={() => {
          if (lp.consumeClick()) return;
          if (canReact) onToggle(r.emoji);
          else onShowWho(r.emoji);
        }}
      >
        <span className="chip__emoji" aria-hidden="true">
          {r.emoji}
        </span>
        <span className="chip__count" aria-hidden="true">
          {r.count}
        </span>
      </button>
      <span role="tooltip" id={id} className="reaction__who">
        {who}
      </span>
    </li>
  );
}
