// Small inline SVG icons (no icon font, no emoji: consistent everywhere and CSP-friendly).
export function LockIcon() {
  return (
    <svg className="icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M5 7V5a3 3 0 1 1 6 0v2h.5A1.5 1.5 0 0 1 13 8.5v5A1.5 1.5 0 0 1 11.5 15h-7A1.5 1.5 0 0 1 3 13.5v-5A1.5 1.5 0 0 1 4.5 7H5Zm1.5 0h3V5a1.5 1.5 0 0 0-3 0v2Z" />
    </svg>
  );
}

export function MembersIcon() {
  return (
    <svg className="icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M7.5 9a3 3 0 1 0 0-6 3 3 0 0 0 0 6Zm6 0a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5ZM2 15.5C2 12.9 4.5 11 7.5 11s5.5 1.9 5.5 4.5V17H2v-1.5Zm12.5 1.5v-1.5c0-1.4-.5-2.6-1.4-3.5 2.6.1 4.9 1.7 4.9 4V17h-3.5Z" />
    </svg>
  );
}

export function MoreIcon() {
  return (
    <svg className="icon" viewBox="0 0 20 20" width="20" height="20" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M4 10a1.75 1.75 0 1 1-3.5 0A1.75 1.75 0 0 1 4 10Zm7.75 0a1.75 1.75 0 1 1-3.5 0 1.75 1.75 0 0 1 3.5 0Zm7.75 0a1.75 1.75 0 1 1-3.5 0 1.75 1.75 0 0 1 3.5 0Z" />
    </svg>
  );
}

export function SmilePlusIcon() {
  return (
    <svg className="icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M9 2.5a6.5 6.5 0 1 0 6.4 7.6h-1.53A5 5 0 1 1 9 4V2.5Zm-2.25 6a1 1 0 1 0 0-2 1 1 0 0 0 0 2Zm4.5 0a1 1 0 1 0 0-2 1 1 0 0 0 0 2ZM6.1 10.6a.75.75 0 0 0-1.2.9 5.1 5.1 0 0 0 8.2 0 .75.75 0 1 0-1.2-.9 3.6 3.6 0 0 1-5.8 0ZM15.5 1.5a.75.75 0 0 1 .75.75v1.5h1.5a.75.75 0 0 1 0 1.5h-1.5v1.5a.75.75 0 0 1-1.5 0v-1.5h-1.5a.75.75 0 0 1 0-1.5h1.5v-1.5a.75.75 0 0 1 .75-.75Z" />
    </svg>
  );
}

export function PencilIcon() {
  return (
    <svg className="icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M13.6 2.6a2 2 0 0 1 2.8 0l1 1a2 2 0 0 1 0 2.8l-9.7 9.7a1 1 0 0 1-.47.26l-3.9 1a.75.75 0 0 1-.92-.92l1-3.9a1 1 0 0 1 .26-.47l9.93-9.47Zm1.77 1.06a.5.5 0 0 0-.7 0l-1.2 1.2 1.67 1.67 1.2-1.2a.5.5 0 0 0 0-.7l-.97-.97ZM14.08 7.6 12.4 5.93 4.9 13.43l-.6 2.27 2.27-.6 7.5-7.5Z" />
    </svg>
  );
}

export function TrashIcon() {
  return (
    <svg className="icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M8 2.5A1.5 1.5 0 0 0 6.5 4v.5H3.75a.75.75 0 0 0 0 1.5h.34l.8 10.1A2 2 0 0 0 6.88 18h6.24a2 2 0 0 0 1.99-1.9l.8-10.1h.34a.75.75 0 0 0 0-1.5H13.5V4A1.5 1.5 0 0 0 12 2.5H8Zm4 2V4H8v.5h4ZM5.6 6h8.8l-.78 9.98a.5.5 0 0 1-.5.52H6.88a.5.5 0 0 1-.5-.52L5.6 6Zm2.65 2a.75.75 0 0 1 .75.75v5a.75.75 0 0 1-1.5 0v-5A.75.75 0 0 1 8.25 8Zm3.5 0a.75.75 0 0 1 .75.75v5a.75.75 0 0 1-1.5 0v-5a.75.75 0 0 1 .75-.75Z" />
    </svg>
  );
}

export function LinkIcon() {
  return (
    <svg className="icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M11.3 4.2a3.5 3.5 0 0 1 4.95 4.95l-2 2a3.5 3.5 0 0 1-4.95 0 .75.75 0 0 1 1.06-1.06 2 2 0 0 0 2.83 0l2-2a2 2 0 1 0-2.83-2.83l-.7.7a.75.75 0 1 1-1.06-1.06l.7-.7Zm-2.65 4.6a2 2 0 0 0-2.83 0l-2 2a2 2 0 0 0 2.83 2.83l.7-.7a.75.75 0 0 1 1.06 1.06l-.7.7a3.5 3.5 0 0 1-4.95-4.95l2-2a3.5 3.5 0 0 1 4.95 0 .75.75 0 1 1-1.06 1.06Z" />
    </svg>
  );
}

export function CopyIcon() {
  return (
    <svg className="icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M7 2.5A1.5 1.5 0 0 0 5.5 4v9A1.5 1.5 0 0 0 7 14.5h8a1.5 1.5 0 0 0 1.5-1.5V4A1.5 1.5 0 0 0 15 2.5H7ZM7 4h8v9H7V4ZM3.5 6.75a.75.75 0 0 0-1.5 0V16A1.5 1.5 0 0 0 3.5 17.5h8.25a.75.75 0 0 0 0-1.5H3.5V6.75Z" />
    </svg>
  );
}

export function ReplyIcon() {
  return (
    <svg className="icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M3 4.75A2.75 2.75 0 0 1 5.75 2h8.5A2.75 2.75 0 0 1 17 4.75v6.5A2.75 2.75 0 0 1 14.25 14H9.06l-3.28 2.92A1.06 1.06 0 0 1 4 16.13V14h-.25A.75.75 0 0 1 3 13.25v-8.5ZM5.75 3.5c-.69 0-1.25.56-1.25 1.25v7.75h.25c.41 0 .75.34.75.75v1.77l2.6-2.33a.75.75 0 0 1 .5-.19h5.65c.69 0 1.25-.56 1.25-1.25v-6.5c0-.69-.56-1.25-1.25-1.25h-8.5ZM7 7.25c0-.41.34-.75.75-.75h4.5a.75.75 0 0 1 0 1.5h-4.5A.75.75 0 0 1 7 7.25Zm.75 2.25a.75.75 0 0 0 0 1.5h2.5a.75.75 0 0 0 0-1.5h-2.5Z" />
    </svg>
  );
}
