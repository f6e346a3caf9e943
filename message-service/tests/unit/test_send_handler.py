"""The send-batch handler's failure handling, with the transaction replaced by fakes."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any, cast

import msgspec
import pytest
from chat_contracts import names, types
from chat_devtools.deliveries import send_delivery
from chat_runtime.features import NONE, Features
from chat_runtime.messaging import BatchResult, Envelope, InfrastructureError
from message_service.domain.sending import SendCommand
from message_service.handlers import send
from message_service.handlers.deps import BusDeps

pytestmark = pytest.mark.unit

DELIVERY_LIMIT = 5


def envelope(
    delivery_count: int = 0, extra: dict[str, Any] | None = None, **fields: Any
) -> Envelope[types.MessageSendV1]:
    return send_delivery(delivery_count=delivery_count, extra=extra, **fields)


class FakeWorld:
    """Stands in for the database: commits batches unless they contain a poison command."""

    def __init__(self, poison: set[str], infra_down: bool = False) -> None:
        self.poison = poison
        self.infra_down = infra_down
        self.committed: list[list[str]] = []
        self.told: list[str] = []

    async def send(self, _: BusDeps, commands: Sequence[SendCommand]) -> None:
        if self.infra_down:
            raise InfrastructureError("database down")
        ids = [str(c.client_msg_id) for c in commands]
        if self.poison & set(ids):
            raise RuntimeError("bug")
        self.committed.append(ids)

    async def tell(self, _: BusDeps, cmd: SendCommand) -> None:
        self.told.append(str(cmd.client_msg_id))


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Any:
    def make(poison: set[str], infra_down: bool = False) -> tuple[FakeWorld, BusDeps]:
        fake = FakeWorld(poison, infra_down)
        monkeypatch.setattr(send, "_send", fake.send)
        monkeypatch.setattr(send, "_tell_sender", fake.tell)
        deps = BusDeps(sessions=cast(Any, None), relay=None, delivery_limit=DELIVERY_LIMIT)
        return fake, deps

    return make


def cmid(env: Envelope[types.MessageSendV1]) -> str:
    return env.body.client_msg_id


def outcomes(result: BatchResult | None, envs: Sequence[Envelope[Any]]) -> list[str]:
    return ["ack" if result is None else result.outcome_of(env) for env in envs]


async def test_a_good_batch_commits_once_and_is_acked(world: Any) -> None:
    envs = [envelope() for _ in range(3)]
    fake, deps = world(set())
    result = await send.handle_batch(deps, list(envs))
    assert fake.committed == [[cmid(e) for e in envs]]
    assert outcomes(result, envs) == ["ack", "ack", "ack"]


async def test_poison_is_isolated_and_only_it_is_requeued_before_its_last_delivery(
    world: Any,
) -> None:
    envs = [envelope(1) for _ in range(3)]
    fake, deps = world({cmid(envs[1])})
    result = await send.handle_batch(deps, list(envs))
    assert fake.committed == [[cmid(envs[0])], [cmid(envs[2])]]
    # The committed neighbours are acked, not redelivered with the poison.
    assert outcomes(result, envs) == ["ack", "retry", "ack"]
    assert fake.told == []


async def test_poison_on_its_last_delivery_tells_the_sender_and_is_dead_lettered(
    world: Any,
) -> None:
    envs = [envelope(DELIVERY_LIMIT), envelope(0), envelope(2)]
    fake, deps = world({cmid(envs[0]), cmid(envs[2])})
    result = await send.handle_batch(deps, list(envs))
    assert fake.told == [cmid(envs[0])]
    assert fake.committed == [[cmid(envs[1])]]
    assert outcomes(result, envs) == ["dead_letter", "ack", "retry"]


async def test_a_lone_poison_is_not_tried_twice(world: Any) -> None:
    env = envelope(DELIVERY_LIMIT)
    fake, deps = world({cmid(env)})
    result = await send.handle_batch(deps, [env])
    assert fake.committed == []
    assert outcomes(result, [env]) == ["dead_letter"]


async def test_infrastructure_errors_propagate_for_the_runner_to_hold(world: Any) -> None:
    fake, deps = world(set(), infra_down=True)
    with pytest.raises(InfrastructureError):
        await send.handle_batch(deps, [envelope(DELIVERY_LIMIT)])
    assert fake.told == []


async def test_other_types_on_the_send_queue_are_ignored(world: Any) -> None:
    fake, deps = world(set())
    body = types.RoomReadV1(room_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()), seq=1)
    other = Envelope(names.ROOM_READ_V1, body, None, None, {}, names.read_routing_key(0))
    assert await send.handle_batch(deps, [other]) is None
    assert fake.committed == []


def test_a_plain_text_send_is_not_refused() -> None:
    assert send._command(envelope(), NONE).refusal is None


@pytest.mark.parametrize(
    ("fields", "extra"),
    [
        ({"kind": "poll"}, {}),  # a kind no release of ours defines
        ({"kind": "system"}, {}),  # only services write system entries
        ({}, {"scheduled_for": "2027-01-01T00:00:00Z"}),  # a field from a newer gateway
    ],
)
def test_an_addition_this_release_does_not_implement_is_refused_unsupported(
    fields: dict[str, Any], extra: dict[str, Any]
) -> None:
    """Never stored as a plain text message: refused before anything else (api-v1.1 item 1)."""
    refusal = send._command(envelope(extra=extra, **fields), NONE).refusal
    assert refusal is not None
    assert refusal.code == "unsupported"


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "reaction", "target_id": str(uuid.uuid4()), "emoji": "👍", "added": True},
        {"kind": "edit", "target_id": str(uuid.uuid4()), "text": "fixed"},
        {"kind": "delete", "target_id": str(uuid.uuid4())},
    ],
)
def test_entries_are_feature_disabled_when_entries_is_off(fields: dict[str, Any]) -> None:
    refusal = send._command(envelope(**fields), NONE).refusal
    assert refusal is not None
    assert refusal.code == "feature_disabled"


def test_a_reply_is_feature_disabled_while_threads_is_off() -> None:
    refusal = send._command(envelope(thread_root_id=str(uuid.uuid4())), NONE).refusal
    assert refusal is not None
    assert refusal.code == "feature_disabled"


def test_a_reply_with_threads_on_names_its_root_and_parses_mentions_when_on() -> None:
    root = uuid.uuid4()
    threads = Features(on=frozenset({"threads"}))
    cmd = send._command(envelope(thread_root_id=str(root), text="@ana hi"), threads)
    assert (cmd.refusal, cmd.kind, cmd.thread_root_id, cmd.mentions_on) == (
        None,
        "text",
        root,
        False,
    )
    both = Features(on=frozenset({"threads", "mentions"}))
    assert send._command(envelope(thread_root_id=str(root)), both).mentions_on
    # A plain text send asks for mentions only while the feature is on.
    assert send._command(envelope(), Features(on=frozenset({"mentions"}))).mentions_on
    assert not send._command(envelope(), NONE).mentions_on


def test_an_entry_with_entries_on_becomes_a_command_of_its_kind() -> None:
    on = Features(on=frozenset({"entries"}), implemented=frozenset({"entries"}))
    target = uuid.uuid4()
    cmd = send._command(envelope(kind="reaction", target_id=str(target), emoji="👍"), on)
    assert cmd.refusal is None
    assert (cmd.kind, cmd.target_id, cmd.emoji, cmd.added) == ("reaction", target, "👍", None)
    edit = send._command(envelope(kind="edit", target_id=str(target), text="fixed"), on)
    assert (edit.kind, edit.target_id, edit.text) == ("edit", target, "fixed")


def test_an_implemented_addition_that_is_switched_off_is_feature_disabled() -> None:
    off = Features(on=frozenset(), implemented=frozenset({"entries"}))
    on = Features(on=frozenset({"entries"}), implemented=frozenset({"entries"}))
    reaction = envelope(kind="reaction", target_id=str(uuid.uuid4()), emoji="👍", added=True)
    refusal = send._command(reaction, off).refusal
    assert refusal is not None
    assert refusal.code == "feature_disabled"
    assert send._command(reaction, on).refusal is None


def test_attachments_are_feature_disabled_while_attachments_is_off() -> None:
    refusal = send._command(envelope(attachments=[str(uuid.uuid4())]), NONE).refusal
    assert refusal is not None
    assert refusal.code == "feature_disabled"


def test_a_text_with_attachments_carries_their_ids_in_order_when_on() -> None:
    on = Features(on=frozenset({"attachments"}))
    files = [uuid.uuid4(), uuid.uuid4()]
    # The command's schema takes no blank text: a send of files alone leaves `text` out.
    body = envelope(attachments=[str(f) for f in files])
    body = dataclasses.replace(body, body=msgspec.structs.replace(body.body, text=msgspec.UNSET))
    cmd = send._command(body, on)
    assert (cmd.refusal, cmd.kind, cmd.attachments, cmd.text) == (None, "text", tuple(files), "")
    # A plain text send carries none (absent, not empty).
    assert send._command(envelope(), on).attachments is None
