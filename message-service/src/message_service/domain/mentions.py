"""Mentions in a message's text (api-v1.1 A): `@username` of a room member and `@room`, found
outside Markdown code spans and code blocks, trailing punctuation stripped.

Where the code is comes from a maintained CommonMark parser (markdown-it-py's tokens): only the
text of inline content outside `code_inline` is searched; fenced and indented code blocks are
block tokens of their own and never searched. Raw HTML is off, as clients show it as text.

Pure: resolving names to members needs the directory (store/user_directory.py), which the send
service asks with `ParsedMentions.usernames`, then `resolve_mentions` decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

from markdown_it import MarkdownIt
from markdown_it.token import Token

from message_service.domain.model import Mentions

USERNAME_MIN = 3
USERNAME_MAX = 32
# api-v1.1 A: in rooms of more than this many members only room admins may use `@room`.
ROOM_MENTION_MEMBERS = 50
ROOM = "room"

# `@` starts a mention at the start of a text or after a character that cannot be part of an
# address, a URL path or a word (so `a@b.com`, `https://host/@ana` and `x:@y` are not
# mentions); the name is the run of username characters after it. A name followed by another
# `@` is an address (`@ana@example.com`), not a mention.
_MENTION = re.compile(r"(?<![A-Za-z0-9_.+\-/@:=&?#%~])@([A-Za-z0-9_.\-]+)(?![A-Za-z0-9_.\-@])")
# Punctuation that may end a sentence right after a name (`@ana.`, `@ana-`): also username
# characters, so each shorter form is a candidate too; the longest that names a member wins.
_TRAILING = ".-_"

# CommonMark without raw HTML (shown as text by clients, so `@name` inside it is visible text).
_MARKDOWN = MarkdownIt("commonmark", {"html": False})


@dataclass(frozen=True, slots=True)
class ParsedMentions:
    """What a text mentions, before names are resolved: per `@name` token (in order), its
    candidate usernames (lower case, longest first), and whether it says `@room`."""

    names: tuple[tuple[str, ...], ...] = ()
    room: bool = False

    @property
    def usernames(self) -> frozenset[str]:
        """Every candidate username (what the directory is asked about)."""
        return frozenset(name for candidates in self.names for name in candidates)

    def __bool__(self) -> bool:
        return bool(self.names) or self.room


NOTHING = ParsedMentions()


def _candidates(token: str) -> tuple[str, ...]:
    """The usernames `@token` may mean: itself and each form with trailing punctuation
    stripped, of a username's length, longest first."""
    name = token.lower()
    found: list[str] = []
    while name:
        if USERNAME_MIN <= len(name) <= USERNAME_MAX:
            found.append(name)
        if name[-1] not in _TRAILING:
            break
        name = name[:-1]
    return tuple(found)


def _inline_text(children: Iterable[Token]) -> Iterable[str]:
    """The searchable runs of one inline block: text outside code spans. A code span ends a
    run (nothing in it is searched) and so do line breaks; markup (emphasis, links) is
    transparent, so `**@ana**` and `[@ana](https://x)` mention ana."""
    run: list[str] = []
    for child in children:
        if child.type in ("text", "text_special"):
            run.append(child.content)
        elif child.type == "image":
            run.append(" ")  # its alt text is shown as text by clients: searched on its own
            yield from _inline_text(child.children or ())
        elif child.type in ("code_inline", "softbreak", "hardbreak"):
            yield "".join(run)
            run = []
    yield "".join(run)


def searchable_text(text: str) -> Iterable[str]:
    """The parts of a Markdown text outside code (inline content of every block but code)."""
    for token in _MARKDOWN.parse(text):
        if token.type == "inline":
            yield from _inline_text(token.children or ())


def parse_mentions(text: str) -> ParsedMentions:
    """The `@name` tokens and `@room` of `text`, outside code spans and code blocks.

    A text without `@` is not parsed at all (the send path's plain messages)."""
    if "@" not in text:
        return NOTHING
    names: list[tuple[str, ...]] = []
    room = False
    for part in searchable_text(text):
        if "@" not in part:
            continue
        for match in _MENTION.finditer(part):
            candidates = _candidates(match.group(1))
            if not candidates:
                continue
            if ROOM in candidates:
                room = True
            elif candidates not in names:
                names.append(candidates)
    return ParsedMentions(tuple(names), room)


def may_mention_room(member_count: int, *, room_admin: bool) -> bool:
    """`@room` notifies a room of up to ROOM_MENTION_MEMBERS members when anyone says it, a
    larger one only when a room admin does (api-v1.1 A)."""
    return member_count <= ROOM_MENTION_MEMBERS or room_admin


def resolve_mentions(
    parsed: ParsedMentions, members: Mapping[str, UUID], *, room_allowed: bool
) -> Mentions:
    """The mentions of a parsed text: each token's longest candidate that names a member of
    the room (`members`: lower-cased username -> id), once each in order of first mention;
    names of non-members are plain text. `@room` only when `room_allowed`."""
    user_ids: list[UUID] = []
    for candidates in parsed.names:
        user = next((members[name] for name in candidates if name in members), None)
        if user is not None and user not in user_ids:
            user_ids.append(user)
    return Mentions(tuple(user_ids), parsed.room and room_allowed)


def mentioned_users(mentions: Mentions | None, sender_id: UUID) -> tuple[UUID, ...]:
    """Who an entry's mentions notify: its users but the sender (rows of `mentions`)."""
    if mentions is None:
        return ()
    return tuple(user for user in mentions.user_ids if user != sender_id)
