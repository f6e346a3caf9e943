import { type KeyboardEvent, type RefObject, useEffect, useRef, useState } from 'react';
import { useChat, useController } from '../lib/chat';
import { codePoints } from '../lib/password';
import { canAdminRoom, isArchived } from '../state/rooms';
import { canSend } from '../state/uploads';
import { PaperclipIcon } from './Attachments';
import { UploadTray, useUploadQueue, useUploads } from './AttachmentsComposer';
import { MentionPicker, useMentionPicker } from './MentionPicker';

const MAX = 4000;

interface ComposerProps {
  roomId: string;
  /** A thread's composer (api-v1.1 A): its own box, ids and draft; the room's composer has none. */
  threadRootId?: string;
  placeholder: string;
  /** `attachments`: the ids of the finished uploads (api-v1.1 E), empty without any. */
  onSend: (text: string, attachments: string[]) => void;
  onTyping: () => void;
  /** Up-arrow in the empty box: edit my last message (returns false when there is none). */
  onEditLast?: () => boolean;
}

/**
 * The message box, or, in an archived channel (api-v1.1 C: read-only), a quiet notice instead
 * (with "Unarchive" for its room admins). Drafts are kept per room across both.
 */
export function Composer(props: ComposerProps) {
  const drafts = useRef<Record<string, string>>({});
  const archived = useChat((s) => isArchived(s.rooms[props.roomId]?.room));
  return archived ? <ArchivedNotice roomId={props.roomId} /> : <ComposerForm {...props} drafts={drafts} />;
}

function ComposerForm({
  roomId, placeholder, onSend, onTyping, onEditLast, threadRootId, drafts,
}: ComposerProps & { drafts: RefObject<Record<string, string>> }) {
  const [text, setText] = useState('');
  const ref = useRef<HTMLTextAreaElement>(null);
  // Drafts are kept per room, and per thread for a thread's composer; ids differ so both can show.
  const draftKey = threadRootId ? `${roomId}/${threadRootId}` : roomId;
  const inputId = threadRootId ? 'thread-composer-input' : 'composer-input';
  const helpId = threadRootId ? 'thread-composer-help' : 'composer-help';
  // The `@` autocomplete follows the caret (MentionPicker.tsx).
  const [caret, setCaret] = useState<number | null>(null);
  const mention = useMentionPicker(inputId, roomId, text, caret, (next, at) => {
    setText(next);
    drafts.current[draftKey] = next;
    setCaret(at);
    window.requestAnimationFrame(() => ref.current?.setSelectionRange(at, at));
  });
  const length = codePoints(text);
  const tooLong = length > MAX;
  // Files (api-v1.1 E, feature `attachments`): uploaded at once, sent with the message by id.
  const attachOn = useChat((s) => s.features.includes('attachments'));
  const queue = useUploadQueue(draftKey);
  const uploads = useUploads(queue);
  const fileInput = useRef<HTMLInputElement>(null);
  const ready = canSend(text, attachOn ? uploads : []);
  const uploading = attachOn && queue.busy;

  useEffect(() => {
    setText(drafts.current[draftKey] ?? '');
    // Do not steal focus on touch screens: it would pop the keyboard over the messages.
    if (window.matchMedia('(pointer: fine)').matches) ref.current?.focus();
  }, [draftKey, drafts]);

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.setProperty('height', 'auto');
    el.style.setProperty('height', `${Math.min(el.scrollHeight, 200)}px`);
  }, [text]);

  const send = () => {
    if (!ready || tooLong) return;
    onSend(text, attachOn ? queue.ids() : []);
    drafts.current[draftKey] = '';
    setText('');
    queue.clear();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (mention.onKeyDown(e)) return;
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    } else if (e.key === 'ArrowUp' && text === '' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && onEditLast?.()) {
      e.preventDefault();
    }
  };

  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <label htmlFor={inputId} className="visually-hidden">
        {threadRootId ? 'Reply in thread' : 'Message'}
      </label>
      <MentionPicker state={mention} />
      {attachOn ? <UploadTray uploads={uploads} onCancel={(k) => queue.cancel(k)} /> : null}
      {attachOn && queue.notice ? (
        <p className="form-error composer__notice" role="alert">
          {queue.notice}
        </p>
      ) : null}
      {attachOn ? (
        <>
          <input
            ref={fileInput}
            type="file"
            multiple
            hidden
            data-testid={threadRootId ? 'thread-file-input' : 'file-input'}
            onChange={(e) => {
              const files = [...(e.target.files ?? [])];
              e.target.value = '';
              if (files.length) queue.add(files);
            }}
          />
          <button type="button" className="btn btn--icon composer__attach" aria-label="Attach files" title="Attach files" onClick={() => fileInput.current?.click()}>
            <PaperclipIcon />
          </button>
        </>
      ) : null}
      <textarea
        id={inputId}
        ref={ref}
        rows={1}
        value={text}
        placeholder={placeholder}
        aria-describedby={helpId}
        aria-invalid={tooLong || undefined}
        {...mention.inputProps}
        onSelect={(e) => setCaret(e.currentTarget.selectionStart)}
        onChange={(e) => {
          setText(e.target.value);
          setCaret(e.target.selectionStart);
          drafts.current[draftKey] = e.target.value;
          if (e.target.value.trim()) onTyping();
        }}
        onKeyDown={onKeyDown}
        onPaste={(e) => {
          // Images or files from the clipboard join the uploads; plain text pastes as usual.
          if (!attachOn) return;
          const files = [...e.clipboardData.files];
          if (files.length === 0) return;
          e.preventDefault();
          queue.add(files.map((f, i) => (f.name ? f : new File([f], `pasted-${i + 1}.${f.type.split('/')[1] ?? 'bin'}`, { type: f.type }))));
        }}
      />
      <span id={helpId} className={tooLong ? 'composer__count composer__count--over' : 'visually-hidden'}>
        {tooLong
          ? `Too long: ${length} of ${MAX} characters.`
          : uploading
            ? 'Send waits until the files are uploaded.'
            : `Enter sends, Shift+Enter adds a line.${onEditLast ? ' Up arrow edits your last message.' : ''}`}
      </span>
      <button type="submit" className="btn btn--primary composer__send" disabled={!ready || tooLong}>
        Send
      </button>
    </form>
  );
}

/** An archived channel's read-only notice, where the message box was. */
function ArchivedNotice({ roomId }: { roomId: string }) {
  const controller = useController();
  const admin = useChat((s) => s.features.includes('rooms') && canAdminRoom(s.rooms[roomId]?.room, s.me));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const unarchive = () => {
    setBusy(true);
    setError(null);
    controller.changeRoom(roomId, { kind: 'unarchive' }).then(
      () => setBusy(false),
      () => {
        setBusy(false);
        setError('Could not unarchive the channel. Please try again.');
      },
    );
  };
  return (
    <div className="archived-note" data-testid="archived-notice">
      <p className="archived-note__text">This channel is archived. Its history stays readable.</p>
      {admin ? (
        <button type="button" className="btn btn--small" onClick={unarchive} disabled={busy}>
          Unarchive
        </button>
      ) : null}
      {error ? (
        <p className="form-error archived-note__error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}
