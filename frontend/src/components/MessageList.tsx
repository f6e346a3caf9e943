import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { User } from '../api/types';
import { buildRows } from '../lib/grouping';
import { clockTime, dayLabel } from '../lib/time';
import { Avatar } from './Avatar';
import { MessageText } from './MessageText';

export interface Item {
  key: string;
  sender_id: string;
  created_at: string;
  text: string;
  /** A deleted entry (api-v1.1 A): shown as a tombstone, never as an empty bubble. */
  deleted?: boolean;
  /** `held`: waits in the outbox for a feature the server has not switched on. */
  status: 'sent' | 'pending' | 'failed' | 'held';
  error?: string;
  client_msg_id: string;
  seq?: number;
}

interface Props {
  roomId: string;
  items: Item[];
  meId: string;
  users: Record<string, User>;
  hasOlder: boolean;
  loadingOlder: boolean;
  onLoadOlder: () => void;
  onRetry: (clientMsgId: string) => void;
  onDiscard: (clientMsgId: string) => void;
}

const NEAR_BOTTOM_PX = 80;
const NEAR_TOP_PX = 200;

export function MessageList({ roomId, items, meId, users, hasOlder, loadingOlder, onLoadOlder, onRetry, onDiscard }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const prevHeight = useRef(0);
  const prevFirst = useRef<string | undefined>(undefined);
  const prevLast = useRef<string | undefined>(undefined);
  const [unseen, setUnseen] = useState(0);
  const [showJump, setShowJump] = useState(false);
  const [tapped, setTapped] = useState<string | null>(null);
  const rows = useMemo(() => buildRows(items), [items]);
  const now = Date.now();

  // New room: start at the bottom.
  useLayoutEffect(() => {
    atBottom.current = true;
    setUnseen(0);
    setShowJump(false);
    prevFirst.current = undefined;
    prevLast.current = undefined;
  }, [roomId]);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const first = items[0]?.key;
    const last = items[items.length - 1];
    if (prevFirst.current !== undefined && first !== prevFirst.current && last?.key === prevLast.current) {
      // History was prepended: keep the message the reader was looking at in place.
      el.scrollTop += el.scrollHeight - prevHeight.current;
    } else if (last && last.key !== prevLast.current) {
      const mine = last.sender_id === meId;
      if (atBottom.current || mine || prevLast.current === undefined) el.scrollTop = el.scrollHeight;
      else setUnseen((n) => n + 1);
    }
    prevFirst.current = first;
    prevLast.current = last?.key;
    prevHeight.current = el.scrollHeight;
  }, [items, meId]);

  // A short history does not fill the view, so no scroll event would ever ask for more.
  useEffect(() => {
    const el = scroller.current;
    if (el && hasOlder && !loadingOlder && el.scrollHeight <= el.clientHeight + NEAR_TOP_PX) onLoadOlder();
  }, [hasOlder, loadingOlder, items.length, onLoadOlder]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    const bottom = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX;
    atBottom.current = bottom;
    setShowJump(!bottom);
    if (bottom) setUnseen(0);
    if (el.scrollTop < NEAR_TOP_PX && hasOlder && !loadingOlder) onLoadOlder();
    prevHeight.current = el.scrollHeight;
  };

  const jump = () => {
    const el = scroller.current;
    if (!el) return;
    el.scrollTop = el.scrollHeight;
    atBottom.current = true;
    setUnseen(0);
    setShowJump(false);
  };

  return (
    <div className="timeline">
      {/* Focusable so keyboard users can scroll the history (axe: scrollable-region-focusable). */}
      {/* eslint-disable-next-line jsx-a11y/no-noninteractive-tabindex */}
      <div ref={scroller} className="timeline__scroll" onScroll={onScroll} role="log" aria-live="off" aria-label="Messages" tabIndex={0} data-testid="timeline">
        {hasOlder ? (
          <div className="timeline__older">
            <button type="button" className="btn btn--small" onClick={onLoadOlder} disabled={loadingOlder}>
              {loadingOlder ? 'Loading earlier messages…' : 'Load earlier messages'}
            </button>
          </div>
        ) : items.length ? (
          <p className="timeline__start">This is the start of the conversation.</p>
        ) : (
          <p className="timeline__start">No messages yet. Say hello!</p>
        )}
        <ol className="timeline__list">
          {rows.map((row) => {
            if (row.kind === 'day') {
              return (
                <li key={`day-${row.key}`} className="day-sep">
                  <span>{dayLabel(row.at, now)}</span>
                </li>
              );
            }
            const m = row.message;
            const mine = m.sender_id === meId;
            const name = users[m.sender_id]?.display_name ?? 'Someone';
            const cls = [
              'msg',
              mine ? 'msg--mine' : 'msg--theirs',
              row.firstInGroup ? 'msg--first' : '',
              row.lastInGroup ? 'msg--last' : '',
              `msg--${m.status}`,
              tapped === m.key ? 'msg--tapped' : '',
            ]
              .filter(Boolean)
              .join(' ');
            return (
              <li key={m.key} className={cls} data-status={m.status} data-seq={m.seq}>
                {!mine ? (
                  <div className="msg__avatar">{row.firstInGroup ? <Avatar id={m.sender_id} name={name} /> : null}</div>
                ) : null}
                <div className="msg__body">
                  {!mine && row.firstInGroup ? <div className="msg__name">{name}</div> : null}
                  {/* A tap shows the time on touch screens; hover and focus show it elsewhere. */}
                  {/* eslint-disable-next-line jsx-a11y/click-events-have-key-events, jsx-a11y/no-static-element-interactions */}
                  <div className="bubble" onClick={() => setTapped((t) => (t === m.key ? null : m.key))}>
                    <span className="visually-hidden">{mine ? 'You' : name}: </span>
                    {m.deleted ? <span className="msg__deleted">This message was deleted.</span> : <MessageText text={m.text} />}
                  </div>
                  <div className="msg__meta">
                    <time dateTime={m.created_at} className="msg__time">
                      {clockTime(m.created_at)}
                    </time>
                    {m.status === 'pending' ? <span className="msg__state">Sending…</span> : null}
                    {m.status === 'held' ? <span className="msg__state">Waiting for the server to support this…</span> : null}
                  </div>
                  {m.status === 'failed' ? (
                    <div className="msg__failed" role="alert">
                      <span className="msg__error">
                        <span aria-hidden="true">⚠ </span>Not sent: {m.error ?? 'the server refused it.'}
                      </span>
                      <span className="msg__fix">
                        <button type="button" className="btn btn--chip" onClick={() => onRetry(m.client_msg_id)}>
                          Retry
                        </button>
                        <button type="button" className="btn btn--chip btn--chip-quiet" onClick={() => onDiscard(m.client_msg_id)}>
                          Discard
                        </button>
                      </span>
                    </div>
                  ) : null}
                </div>
              </li>
            );
          })}
        </ol>
      </div>
      {showJump ? (
        <button type="button" className="btn btn--primary jump" onClick={jump}>
          Jump to latest{unseen ? ` (${unseen} new)` : ''}
        </button>
      ) : null}
    </div>
  );
}
