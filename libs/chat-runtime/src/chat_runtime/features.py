"""Feature switches of api-v1.1 (preamble item 2) and what a `message.send` needs of them.

api-v1.1 is reached in two releases so services can be deployed one at a time: the tolerant
release first (0.2.0: it implemented no addition), then producers that use the additions, each
behind a feature name (this release implements `entries`, `search`, `threads`, `mentions`
and `admin`).
Every service reads the same `CHAT_FEATURES`; a feature is on when it is listed there and this
release implements it. An addition that this release does not implement is refused with
`unsupported`, one it implements but that is off with `feature_disabled`, and neither is ever
stored as something else (a plain text message).
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import msgspec
from chat_contracts import types

from chat_runtime.logging import get_logger

__all__ = [
    "ADDED_FIELDS",
    "IMPLEMENTED",
    "KIND_FEATURE",
    "KNOWN",
    "NONE",
    "Features",
    "Refusal",
    "SendShape",
    "send_refusal",
]

log = get_logger(__name__)

# Every feature name api-v1.1 defines (the contracts' open enum `FeatureName`).
KNOWN: tuple[str, ...] = typing.get_args(types.KnownFeatureName)
# The features this release implements: its default `CHAT_FEATURES`.
IMPLEMENTED: frozenset[str] = frozenset(
    {
        "entries",
        "search",
        "threads",
        "mentions",
        "admin",
        "rooms",
        "blocking",
        "online_now",
        "attachments",
    }
)

# The kinds of a `message.send` and the feature each needs (None: the v1 plain text entry).
KIND_FEATURE: dict[str, str | None] = {
    "text": None,
    "edit": "entries",
    "delete": "entries",
    "reaction": "entries",
}
# The optional fields of a `message.send` beside v1's (and `kind`), and the feature each needs.
ADDED_FIELDS: dict[str, str] = {
    "target_id": "entries",
    "emoji": "entries",
    "added": "entries",
    "thread_root_id": "threads",
    "attachments": "attachments",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an addition is refused: `code` is `unsupported` or `feature_disabled`."""

    code: typing.Literal["unsupported", "feature_disabled"]
    detail: str


@dataclass(frozen=True, slots=True)
class Features:
    """The features that are on in this process (configured and implemented)."""

    on: frozenset[str]
    implemented: frozenset[str] = IMPLEMENTED

    @classmethod
    def from_setting(cls, value: str | None, implemented: frozenset[str] = IMPLEMENTED) -> Features:
        """`CHAT_FEATURES`: None (unset) means everything implemented; "" means none.

        Names this release does not implement are logged and left off: during an upgrade the
        setting may already name a feature only the next release has.
        """
        if value is None:
            return cls(on=implemented, implemented=implemented)
        wanted = {name.strip() for name in value.split(",") if name.strip()}
        ignored = sorted(wanted - implemented)
        if ignored:
            log.warning("features_not_implemented", ignored=ignored, known=list(KNOWN))
        return cls(on=frozenset(wanted & implemented), implemented=implemented)

    def listed(self) -> list[str]:
        """The features that are on, in api-v1.1's order (for `ready` and `users/me`)."""
        return [name for name in KNOWN if name in self.on]

    def refusal(self, needed: Iterable[str]) -> Refusal | None:
        """The refusal of an addition needing the features `needed`, or None when all are on.

        A feature this release does not implement wins over one that is merely off: switching
        features on would not make such a send pass (a client holds `feature_disabled` items
        until the feature is on, so they must be ones that can pass then).
        """
        wanted = list(needed)
        for feature in wanted:
            if feature not in self.implemented:
                return Refusal(
                    "unsupported", f"This server does not support '{feature}' yet; retry later."
                )
        for feature in wanted:
            if feature not in self.on:
                return Refusal("feature_disabled", f"The feature '{feature}' is switched off.")
        return None


NONE = Features(on=frozenset())  # every addition off (`CHAT_FEATURES=`)


class SendFields(Protocol):
    """A decoded `message.send`: the client's frame or the gateway's command (their api-v1.1
    fields; each is `msgspec.UNSET` when absent)."""

    @property
    def kind(self) -> str | msgspec.UnsetType: ...
    @property
    def target_id(self) -> object: ...
    @property
    def emoji(self) -> object: ...
    @property
    def added(self) -> object: ...
    @property
    def thread_root_id(self) -> object: ...
    @property
    def attachments(self) -> object: ...


@dataclass(frozen=True, slots=True)
class SendShape:
    """What a `message.send` (frame or command) asks for beyond a v1 plain text message."""

    kind: str
    fields: frozenset[str]  # the api-v1.1 optional fields it carries
    unknown: frozenset[str] = frozenset()  # fields no contract of this release names

    @classmethod
    def of(cls, send: SendFields, unknown: Iterable[str] = ()) -> SendShape:
        """The shape of a decoded `message.send` (frame or command) and its unknown fields."""
        present = (name for name in ADDED_FIELDS if getattr(send, name) is not msgspec.UNSET)
        kind = send.kind if isinstance(send.kind, str) else None
        return cls.named(kind, present, unknown)

    @classmethod
    def named(
        cls, kind: str | None, present: Iterable[str], unknown: Iterable[str] = ()
    ) -> SendShape:
        """The shape of a send of `kind` (None: `text`) carrying the api-v1.1 fields `present`."""
        return cls(
            kind=kind or "text",
            fields=frozenset(name for name in present if name in ADDED_FIELDS),
            unknown=frozenset(unknown),
        )

    @property
    def is_plain_text(self) -> bool:
        return self.kind == "text" and not self.fields and not self.unknown


def send_refusal(
    shape: SendShape, features: Features, *, decides_unknown: bool = True
) -> Refusal | None:
    """Whether a send must be refused because it uses an addition that is not on here.

    None for a v1 plain text message (the hot path returns at once) and for additions whose
    features are all on; else `unsupported` (a kind or field this release does not implement,
    or a `system` entry, which only services make) or `feature_disabled`. A gateway passes
    `decides_unknown=False`: it refuses only what it knows to be off and forwards kinds and
    fields it does not know, which the message-service of their release judges.
    """
    if shape.is_plain_text:
        return None
    if shape.unknown and decides_unknown:
        fields = ", ".join(sorted(shape.unknown))
        return Refusal("unsupported", f"This server does not support the field(s) {fields}.")
    needed = [ADDED_FIELDS[name] for name in sorted(shape.fields)]
    if shape.kind in KIND_FEATURE:
        kind_feature = KIND_FEATURE[shape.kind]
        if kind_feature is not None:
            needed.insert(0, kind_feature)
    elif decides_unknown or shape.kind == "system":
        return Refusal(
            "unsupported", f"This server does not support entries of kind '{shape.kind}'."
        )
    return features.refusal(dict.fromkeys(needed))
