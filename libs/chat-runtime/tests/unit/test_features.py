"""Feature switches (api-v1.1 preamble item 2) and what a `message.send` needs of them."""

from __future__ import annotations

import pytest
from chat_runtime import features
from chat_runtime.features import Features, SendShape, send_refusal
from chat_runtime.settings import BaseServiceSettings
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

pytestmark = pytest.mark.unit

ENTRIES = frozenset({"entries"})
KINDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)


def test_unset_means_everything_the_release_implements_and_empty_means_none() -> None:
    assert Features.from_setting(None, ENTRIES).on == ENTRIES
    assert Features.from_setting("", ENTRIES).on == frozenset()
    assert Features.from_setting(" entries , ", ENTRIES).on == ENTRIES


def test_names_this_release_does_not_implement_stay_off() -> None:
    # During an upgrade the setting may already name a feature only the next release has.
    switches = Features.from_setting("entries,search,video_calls", ENTRIES)
    assert switches.on == ENTRIES
    assert switches.listed() == ["entries"]


def test_names_that_are_not_on_are_logged_as_features_not_implemented() -> None:
    """An operator who lists a name this release cannot switch on (a typo, or a feature only
    the next release has) is told so in the log, once per reading, with the names ignored."""
    with capture_logs() as logs:
        switches = Features.from_setting("entries, video_calls ,search", ENTRIES)
    assert switches.on == ENTRIES
    warnings = [line for line in logs if line["event"] == "features_not_implemented"]
    assert len(warnings) == 1, logs
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["ignored"] == ["search", "video_calls"]
    assert set(warnings[0]["known"]) == set(features.KNOWN)


@pytest.mark.parametrize("setting", [None, "", " , ", "entries"])
def test_a_setting_that_names_only_what_is_implemented_logs_nothing(
    setting: str | None,
) -> None:
    with capture_logs() as logs:
        Features.from_setting(setting, ENTRIES)
    assert [line for line in logs if line["event"] == "features_not_implemented"] == []


def test_this_release_implements_entries_and_search() -> None:
    """Issues #14 (edit, delete, reaction and system entries: `entries`) and #18 (`search`);
    the other additions come with later issues."""
    assert {
        "entries",
        "search",
        "threads",
        "mentions",
        "admin",
        "rooms",
        "blocking",
        "online_now",
        "attachments",
    } == features.IMPLEMENTED
    assert set(features.KNOWN) == features.IMPLEMENTED  # issue #19 (files) was the last
    assert Features.from_setting(None).on == features.IMPLEMENTED  # the default CHAT_FEATURES
    assert set(features.KNOWN) == {
        "entries",
        "threads",
        "mentions",
        "attachments",
        "search",
        "admin",
        "rooms",
        "blocking",
        "online_now",
    }
    assert set(features.KNOWN) >= features.IMPLEMENTED
    # Every kind a client may send needs nothing, or a feature of this release.
    assert {f for f in features.KIND_FEATURE.values() if f} <= features.IMPLEMENTED


def test_settings_read_chat_features(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAT_FEATURES", raising=False)
    assert BaseServiceSettings().feature_switches.listed() == [
        "entries",
        "threads",
        "mentions",
        "attachments",
        "search",
        "admin",
        "rooms",
        "blocking",
        "online_now",
    ]
    monkeypatch.setenv("CHAT_FEATURES", "")
    assert BaseServiceSettings().feature_switches.on == frozenset()
    monkeypatch.setenv("CHAT_FEATURES", "entries")
    assert BaseServiceSettings().feature_switches.listed() == ["entries"]
    monkeypatch.setenv("CHAT_FEATURES", "attachments,entries")
    assert BaseServiceSettings().feature_switches.listed() == ["entries", "attachments"]
    monkeypatch.setenv("CHAT_FEATURES", "search,teleport")
    assert BaseServiceSettings().feature_switches.listed() == ["search"]  # unknown: left off


def test_listed_in_the_contract_order() -> None:
    every = frozenset(features.KNOWN)
    assert Features(on=every, implemented=every).listed() == list(features.KNOWN)


ON = Features.from_setting(None)  # this release's default: every implemented feature on
REACTION = SendShape.named("reaction", ["target_id", "emoji", "added"])


@pytest.mark.parametrize(
    ("shape", "off", "on"),
    [
        (REACTION, "feature_disabled", None),
        (SendShape.named("edit", ["target_id"]), "feature_disabled", None),
        (SendShape.named("delete", ["target_id"]), "feature_disabled", None),
        (SendShape.named(None, ["emoji"]), "feature_disabled", None),  # content: message-service
        (SendShape.named(None, ["thread_root_id"]), "feature_disabled", None),
        (SendShape.named("text", ["attachments"]), "feature_disabled", None),
        (SendShape.named("system", []), "unsupported", "unsupported"),
        (SendShape.named("poll", []), "unsupported", "unsupported"),
        (SendShape.named(None, [], unknown=["scheduled_for"]), "unsupported", "unsupported"),
    ],
)
def test_message_service_refuses_what_is_off_or_not_implemented(
    shape: SendShape, off: str, on: str | None
) -> None:
    refusal = send_refusal(shape, features.NONE)
    assert refusal is not None
    assert refusal.code == off
    refused = send_refusal(shape, ON)
    assert (refused.code if refused else None) == on


def test_not_implemented_wins_over_switched_off() -> None:
    """A text with attachments and a thread root, in a release with `threads` (off) but without
    `attachments`: it is `unsupported`, since switching `threads` on would not make it pass
    (clients hold `feature_disabled` sends until the feature is on)."""
    before_files = Features(on=frozenset(), implemented=features.IMPLEMENTED - {"attachments"})
    with_files = SendShape.named("text", ["thread_root_id", "attachments"])
    refusal = send_refusal(with_files, before_files)
    assert refusal is not None
    assert refusal.code == "unsupported"
    assert "attachments" in refusal.detail
    assert before_files.refusal(["threads", "attachments"]) == before_files.refusal(
        ["attachments"]
    )


def test_implemented_but_off_is_feature_disabled_and_on_passes() -> None:
    reaction = SendShape.named("reaction", ["target_id", "emoji", "added"])
    off = Features(on=frozenset(), implemented=ENTRIES)
    refusal = send_refusal(reaction, off)
    assert refusal is not None
    assert refusal.code == "feature_disabled"
    assert send_refusal(reaction, Features(on=ENTRIES, implemented=ENTRIES)) is None
    # A reply needs `threads` too, which is not implemented here.
    reply = SendShape.named("text", ["thread_root_id"])
    refused = send_refusal(reply, Features(on=ENTRIES, implemented=ENTRIES))
    assert refused is not None
    assert refused.code == "unsupported"


def test_a_gateway_forwards_what_it_does_not_know_for_its_message_service_to_judge() -> None:
    unknown_kind = SendShape.named("poll", [])
    unknown_field = SendShape.named(None, [], unknown=["scheduled_for"])
    assert send_refusal(unknown_kind, features.NONE, decides_unknown=False) is None
    assert send_refusal(unknown_field, features.NONE, decides_unknown=False) is None
    # ...but never a system entry, and never a known addition that is off.
    system = send_refusal(SendShape.named("system", []), features.NONE, decides_unknown=False)
    assert system is not None
    reaction = SendShape.named("reaction", ["emoji"], unknown=["x"])
    assert send_refusal(reaction, features.NONE, decides_unknown=False) is not None


@given(kind=KINDS, fields=st.sets(st.sampled_from(sorted(features.ADDED_FIELDS))))
def test_with_entries_on_only_its_kinds_and_fields_pass(kind: str, fields: set[str]) -> None:
    """This release with its default switches: text, edit, delete and reaction sends with
    entries fields pass to message-service's own checks; anything else is refused."""
    shape = SendShape.named(kind, fields)
    refusal = send_refusal(shape, ON)
    passes = kind in {"text", "edit", "delete", "reaction"} and fields <= {
        "target_id",
        "emoji",
        "added",
    }
    assert (refusal is None) == passes
    if refusal is not None:
        assert refusal.code == "unsupported"


@given(kind=KINDS, fields=st.sets(st.sampled_from(sorted(features.ADDED_FIELDS))))
def test_only_plain_text_passes_when_every_feature_is_off(kind: str, fields: set[str]) -> None:
    """The invariant of the tolerant release: with everything off (or not implemented), every
    send that is not a v1 plain text message is refused, so none is stored as one."""
    shape = SendShape.named(kind, fields)
    refusal = send_refusal(shape, features.NONE)
    assert (refusal is None) == (kind == "text" and not fields)
