"""api-v1.1 A and B over REST against a real database: edit, delete and reaction entries, every
refusal of the A table that exists now, history with the entries' state (`me` included),
`around_seq` / `content_only` pages, the edits of an entry, and the unread rule of B."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from chat_contracts.emoji import rgi_emoji

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

EMOJI = sorted(e for e in rgi_emoji() if len(e) == 1)  # 21 single code point ones suffice


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert body["detail"]
    return body


def field_errors(r: Any) -> set[str]:
    return {e["field"] for e in problem(r, 422, "validation_failed")["errors"]}


class Room:
    """One room of the shared stack and helpers to post entries into it."""

    def __init__(self, s: Any, room_id: str) -> None:
        self.s = s
        self.id = room_id

    async def post(self, user: uuid.UUID, cmid: str | None = None, **fields: Any) -> Any:
        body = {"client_msg_id": cmid or str(uuid.uuid4()), **fields}
        return await self.s.client.post(
            f"/v1/rooms/{self.id}/messages", json=body, headers=self.s.auth(user)
        )

    async def text(self, user: uuid.UUID, text: str = "hi") -> dict[str, Any]:
        r = await self.post(user, text=text)
        assert r.status_code == 201, r.text
        message: dict[str, Any] = r.json()["message"]
        return message

    async def change(self, user: uuid.UUID, **fields: Any) -> dict[str, Any]:
        r = await self.post(user, **fields)
        assert r.status_code == 201, r.text
        message: dict[str, Any] = r.json()["message"]
        return message

    async def history(self, user: uuid.UUID, query: str = "after_seq=0&limit=200") -> Any:
        return await self.s.client.get(
            f"/v1/rooms/{self.id}/messages?{query}", headers=self.s.auth(user)
        )

    async def entries(self, user: uuid.UUID, query: str = "after_seq=0&limit=200") -> Any:
        r = await self.history(user, query)
        assert r.status_code == 200, r.text
        return r.json()

    async def entry(self, user: uuid.UUID, message_id: str) -> dict[str, Any]:
        found: dict[str, Any] = next(
            m for m in (await self.entries(user))["messages"] if m["id"] == message_id
        )
        return found

    async def join(self, user: uuid.UUID) -> dict[str, Any]:
        r = await self.s.client.post(
            f"/v1/rooms/{self.id}/members", json={}, headers=self.s.auth(user)
        )
        assert r.status_code == 200, r.text
        room: dict[str, Any] = r.json()["room"]
        return room

    async def card(self, user: uuid.UUID) -> dict[str, Any]:
        r = await self.s.client.get(f"/v1/rooms/{self.id}", headers=self.s.auth(user))
        assert r.status_code == 200, r.text
        room: dict[str, Any] = r.json()["room"]
        return room


async def new_room(s: Any, owner: uuid.UUID, visibility: str = "public") -> Room:
    return Room(s, await s.room(owner, visibility=visibility))


async def test_edit_delete_react_and_their_refusals(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben, eve = [await s.register_user() for _ in range(3)]
    room = await new_room(s, ana)
    await room.join(ben)
    (joined,) = (await room.entries(ana))["messages"]
    assert (joined["kind"], joined["sender_id"]) == ("system", str(ben))
    hello = await room.text(ana, "helo")
    assert (hello["deleted"], hello["edited_at"], hello["reactions"]) == (False, None, [])
    assert hello["state_seq"] == hello["seq"]

    edit = await room.change(ana, kind="edit", target_id=hello["id"], text="hello")
    assert (edit["kind"], edit["target_id"], edit["text"]) == ("edit", hello["id"], "hello")
    assert "reactions" not in edit  # change entries never embed the target

    # Reactions: an entry each, a noop for one that changes nothing, the same answer again.
    first = await room.change(ben, kind="reaction", target_id=hello["id"], emoji="👍")
    assert (first["kind"], first["emoji"], first["added"]) == ("reaction", "👍", True)
    cmid = str(uuid.uuid4())
    for _ in range(2):
        r = await room.post(ben, cmid, kind="reaction", target_id=hello["id"], emoji="👍")
        assert r.status_code == 200, r.text
        assert r.json()["noop"] is True
        target = r.json()["message"]
        assert target["id"] == hello["id"]
        assert target["reactions"] == [
            {"emoji": "👍", "count": 1, "user_ids": [str(ben)], "me": True}
        ]
        assert target["state_seq"] == first["seq"]
    problem(
        await room.post(ben, cmid, kind="reaction", target_id=hello["id"], emoji="🎉"),
        409,
        "client_msg_id_reused",
    )
    await room.change(ana, kind="reaction", target_id=hello["id"], emoji="🎉")

    # History carries the state; `me` is the caller's.
    seen_by_ana = await room.entry(ana, hello["id"])
    assert seen_by_ana["text"] == "hello"
    assert seen_by_ana["edited_at"] is not None
    assert seen_by_ana["state_seq"] > edit["seq"]
    assert [(x["emoji"], x["count"], x["me"]) for x in seen_by_ana["reactions"]] == [
        ("👍", 1, False),
        ("🎉", 1, True),
    ]
    seen_by_ben = await room.entry(ben, hello["id"])
    assert [x["me"] for x in seen_by_ben["reactions"]] == [True, False]

    # not_found: absent, in another room, not a text entry, deleted
    other = await new_room(s, ana)
    elsewhere = await other.text(ana)
    for target in (str(uuid.uuid4()), elsewhere["id"], edit["id"]):
        problem(await room.post(ana, kind="edit", target_id=target, text="x"), 404, "not_found")
        problem(
            await room.post(ana, kind="reaction", target_id=target, emoji="👍"), 404, "not_found"
        )
    # forbidden: another's edit; another's delete by a non-admin; a reaction on a system entry
    problem(await room.post(ben, kind="edit", target_id=hello["id"], text="x"), 403, "forbidden")
    problem(await room.post(ben, kind="delete", target_id=hello["id"]), 403, "forbidden")
    problem(
        await room.post(ben, kind="reaction", target_id=joined["id"], emoji="👍"), 403, "forbidden"
    )
    problem(await room.post(ana, kind="edit", target_id=joined["id"], text="x"), 404, "not_found")
    # a non-member: as for text
    problem(
        await room.post(eve, kind="reaction", target_id=hello["id"], emoji="👍"), 403, "forbidden"
    )

    # validation_failed with the field
    assert field_errors(
        await room.post(ben, kind="reaction", target_id=hello["id"], emoji="x")
    ) == {"emoji"}
    assert field_errors(await room.post(ana, kind="edit", target_id=hello["id"], text=" ")) == {
        "text"
    }
    assert field_errors(await room.post(ana, kind="edit", target_id=hello["id"])) == {"text"}
    assert field_errors(
        await room.post(ana, kind="edit", target_id=hello["id"], text="x" * 4001)
    ) == {"text"}

    # The channel's creator may delete anyone's entry; the tombstone keeps no text or reactions.
    bens = await room.text(ben, "oops")
    await room.change(ana, kind="reaction", target_id=bens["id"], emoji="👀")
    gone = await room.change(ana, kind="delete", target_id=bens["id"])
    assert (gone["kind"], gone["target_id"]) == ("delete", bens["id"])
    tombstone = await room.entry(ben, bens["id"])
    assert (tombstone["text"], tombstone["deleted"], tombstone["reactions"]) == ("", True, [])
    assert tombstone["state_seq"] == gone["seq"]
    for fields in (
        {"kind": "edit", "text": "x"},
        {"kind": "delete"},
        {"kind": "reaction", "emoji": "👍"},
    ):
        problem(await room.post(ben, target_id=bens["id"], **fields), 404, "not_found")
    # Own delete.
    mine = await room.text(ben, "mine")
    await room.change(ben, kind="delete", target_id=mine["id"])

    # The 21st distinct emoji of one entry is refused.
    popular = await room.text(ana, "react!")
    for emoji in EMOJI[:20]:
        await room.change(ben, kind="reaction", target_id=popular["id"], emoji=emoji)
    assert field_errors(
        await room.post(ana, kind="reaction", target_id=popular["id"], emoji=EMOJI[20])
    ) == {"emoji"}
    reactions = (await room.entry(ana, popular["id"]))["reactions"]
    assert [x["emoji"] for x in reactions] == EMOJI[:20]  # in the order of their first reaction


async def test_delete_in_a_direct_room_is_only_for_the_sender(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben = await s.register_user(), await s.register_user()
    r = await s.client.post("/v1/dms", json={"user_id": str(ben)}, headers=s.auth(ana))
    room = Room(s, r.json()["room"]["id"])
    bens = await room.text(ben)
    problem(await room.post(ana, kind="delete", target_id=bens["id"]), 403, "forbidden")
    await room.change(ben, kind="delete", target_id=bens["id"])
    assert [m["kind"] for m in (await room.entries(ana))["messages"]] == ["text", "delete"]


async def test_edits_of_an_entry(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben, eve = [await s.register_user() for _ in range(3)]
    room = await new_room(s, ana)
    private = await new_room(s, ana, visibility="private")
    await room.join(ben)
    first = await room.text(ana, "v1")
    second = await room.text(ana, "w1")
    await room.change(ana, kind="edit", target_id=second["id"], text="w2")
    e1 = await room.change(ana, kind="edit", target_id=first["id"], text="v2")
    reaction = await room.change(ben, kind="reaction", target_id=first["id"], emoji="👍")
    e2 = await room.change(ana, kind="edit", target_id=first["id"], text="v3")

    def url(r: Room, message_id: str) -> str:
        return f"/v1/rooms/{r.id}/messages/{message_id}/edits"

    r = await s.client.get(url(room, first["id"]), headers=s.auth(ben))
    assert r.status_code == 200, r.text
    assert r.json() == {"edits": [e1, e2]}
    r = await s.client.get(url(room, (await room.text(ana))["id"]), headers=s.auth(ben))
    assert r.json() == {"edits": []}
    for missing in (str(uuid.uuid4()), reaction["id"], e1["id"]):
        problem(await s.client.get(url(room, missing), headers=s.auth(ben)), 404, "not_found")
    elsewhere = await private.text(ana)
    problem(await s.client.get(url(room, elsewhere["id"]), headers=s.auth(ana)), 404, "not_found")
    problem(await s.client.get(url(room, first["id"]), headers=s.auth(eve)), 403, "forbidden")
    problem(
        await s.client.get(url(private, elsewhere["id"]), headers=s.auth(eve)),
        404,
        "room_not_found",
    )
    problem(await s.client.get(url(room, "nope"), headers=s.auth(ana)), 422, "validation_failed")
    # A delete erases the edits' text too; they stay in the timeline.
    await room.change(ana, kind="delete", target_id=first["id"])
    r = await s.client.get(url(room, first["id"]), headers=s.auth(ben))
    assert [(m["id"], m["text"]) for m in r.json()["edits"]] == [(e1["id"], ""), (e2["id"], "")]


async def test_around_seq_and_content_only_pages(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, eve = await s.register_user(), await s.register_user()
    room = await new_room(s, ana)
    private = await new_room(s, ana, visibility="private")
    # Texts at the odd seqs 1..11, each followed by a reaction on it (even seqs 2..12).
    for i in range(6):
        text = await room.text(ana, f"t{i}")
        await room.change(ana, kind="reaction", target_id=text["id"], emoji="👍")

    async def page(query: str) -> dict[str, Any]:
        body: dict[str, Any] = await room.entries(ana, query)
        body["seqs"] = [m["seq"] for m in body.pop("messages")]
        return body

    everything = await page("after_seq=0&limit=200")
    assert everything == {"seqs": list(range(1, 13)), "has_more": False}
    assert await page("around_seq=5&limit=4") == {
        "seqs": [3, 4, 5, 6],
        "has_more": True,
        "has_more_before": True,
        "has_more_after": True,
    }
    assert await page("around_seq=2&limit=4") == {
        "seqs": [1, 2, 3],
        "has_more": False,
        "has_more_before": False,
        "has_more_after": True,
    }
    assert await page("around_seq=12&limit=5") == {
        "seqs": [10, 11, 12],
        "has_more": True,
        "has_more_before": True,
        "has_more_after": False,
    }
    assert (await page("around_seq=7&limit=1"))["seqs"] == [7]
    assert await page("around_seq=7&limit=4&content_only=true") == {
        "seqs": [3, 5, 7, 9],
        "has_more": True,
        "has_more_before": True,
        "has_more_after": True,
        "covered_from_seq": 3,
        "covered_to_seq": 9,
    }
    assert await page("around_seq=100&limit=4&content_only=true") == {
        "seqs": [9, 11],
        "has_more": True,
        "has_more_before": True,
        "has_more_after": False,
        "covered_from_seq": 9,
        "covered_to_seq": 12,
    }
    assert await page("before_seq=13&limit=4&content_only=true") == {
        "seqs": [5, 7, 9, 11],
        "has_more": True,
        "covered_from_seq": 5,
        "covered_to_seq": 12,
    }
    assert await page("before_seq=4&limit=10&content_only=1") == {
        "seqs": [1, 3],
        "has_more": False,
        "covered_from_seq": 1,
        "covered_to_seq": 3,
    }
    assert (await page("before_seq=999&limit=10&content_only=true"))["covered_to_seq"] == 12
    assert await page("before_seq=13&limit=4&content_only=false") == {
        "seqs": [9, 10, 11, 12],
        "has_more": True,
    }
    # Text entries of content_only pages carry their state.
    (entry,) = (await room.entries(ana, "around_seq=3&limit=1&content_only=true"))["messages"]
    assert entry["reactions"] == [{"emoji": "👍", "count": 1, "user_ids": [str(ana)], "me": True}]

    for query in (
        "around_seq=5&after_seq=1",
        "around_seq=5&before_seq=9",
        "content_only=true",
        "content_only=true&limit=5",
        "content_only=true&after_seq=0",
        "content_only=maybe&before_seq=5",
        "around_seq=-1",
        "around_seq=x",
        f"around_seq={2**63}",
        f"before_seq={2**63}",
    ):
        problem(await room.history(ana, query), 422, "validation_failed")
    r = await room.history(ana, "around_seq=5&before_seq=9&content_only=true&after_seq=1")
    assert {e["field"] for e in problem(r, 422, "validation_failed")["errors"]} == {
        "before_seq",
        "around_seq",
        "content_only",
    }
    problem(await room.history(eve, "around_seq=5"), 403, "forbidden")
    problem(await Room(s, private.id).history(eve, "around_seq=5"), 404, "room_not_found")


async def test_unread_counts_and_activity_follow_text_entries_only(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben, cat = [await s.register_user() for _ in range(3)]
    room = await new_room(s, ana)
    quiet = await new_room(s, ana)
    await room.join(ben)
    await quiet.join(ben)
    texts = [await room.text(ben, f"m{i}") for i in range(3)]
    await quiet.text(ben, "earlier")  # the quiet room's last text is the newest activity...

    async def listed(user: uuid.UUID) -> dict[str, int]:
        rooms = (await s.client.get("/v1/rooms", headers=s.auth(user))).json()["rooms"]
        return {x["id"]: x["unread_count"] for x in rooms}

    async def order(user: uuid.UUID) -> list[str]:
        rooms = (await s.client.get("/v1/rooms", headers=s.auth(user))).json()["rooms"]
        return [x["id"] for x in rooms]

    assert (await room.card(ana))["unread_count"] == 3
    # Edits, reactions (the reader's too), system entries: counted for nobody, no activity.
    await room.change(ben, kind="edit", target_id=texts[0]["id"], text="m0!")
    await room.change(ben, kind="reaction", target_id=texts[1]["id"], emoji="👍")
    await room.change(ana, kind="reaction", target_id=texts[2]["id"], emoji="👍")
    joined = await room.join(cat)  # a system entry
    assert await order(ana) == [quiet.id, room.id]  # ...even after those entries in `room`
    assert joined["unread_count"] == 3  # the joiner: ben's three texts
    assert (await room.card(ana))["unread_count"] == 3
    assert (await listed(ana))[room.id] == 3
    assert (await room.card(ben))["unread_count"] == 0  # nobody else's text entries
    # A deleted entry no longer counts.
    await room.change(ben, kind="delete", target_id=texts[0]["id"])
    assert (await listed(ana))[room.id] == 2
    # A new text moves the room to the top; one's own text moves one's read position.
    await room.text(ana, "back")
    assert await order(ana) == [room.id, quiet.id]
    assert (await room.card(ana))["unread_count"] == 0
    assert (await room.card(ben))["unread_count"] == 1
    # Public browse and a non-member's card count the same way (read position 0).
    assert (await room.card(await s.register_user()))["unread_count"] == 3


async def test_unread_count_is_capped_at_1000(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana, ben = await s.register_user(), await s.register_user()
    room = await new_room(s, ana)
    await room.join(ben)
    async with s.host.require_sessions()() as session, session.begin():
        # Faster than 1 001 sends; the counters are what the send path keeps.
        await session.execute(
            sa.text(
                "INSERT INTO messages (id, room_id, seq, kind, sender_id, text, client_msg_id,"
                " created_at) SELECT gen_random_uuid(), :room, g + 1, 'text', :ben, 'x',"
                " gen_random_uuid(), now() FROM generate_series(1, 1001) AS g"
            ),
            {"room": uuid.UUID(room.id), "ben": ben},
        )
        await session.execute(
            sa.text("UPDATE rooms SET last_seq = 1002 WHERE id = :room"),
            {"room": uuid.UUID(room.id)},
        )
    assert (await room.card(ana))["unread_count"] == 1000
    rooms = (await s.client.get("/v1/rooms", headers=s.auth(ana))).json()["rooms"]
    assert next(x["unread_count"] for x in rooms if x["id"] == room.id) == 1000


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def features_off(ms_shared_stack: Any) -> AsyncIterator[Any]:
    """A REST-only replica on the same database with every feature off (`CHAT_FEATURES=`)."""
    s = ms_shared_stack
    async with s.rest_replica("") as client:
        yield client


@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [
        ({"kind": "reaction", "target_id": None, "emoji": "👍"}, 403, "feature_disabled"),
        ({"kind": "edit", "target_id": None, "text": "fixed"}, 403, "feature_disabled"),
        ({"kind": "delete", "target_id": None}, 403, "feature_disabled"),
        ({"text": "a reply", "thread_root_id": str(uuid.uuid4())}, 403, "feature_disabled"),
        ({"text": "a file", "attachments": [str(uuid.uuid4())]}, 403, "feature_disabled"),
    ],
    ids=["reaction", "edit", "delete", "reply", "attachments"],
)
async def test_entries_switched_off_are_refused(
    ms_shared_stack: Any, features_off: Any, extra: dict[str, Any], status: int, code: str
) -> None:
    s = ms_shared_stack
    ana = await s.register_user()
    room = await new_room(s, ana)
    hello = await room.text(ana)
    body = {"client_msg_id": str(uuid.uuid4()), **extra}
    if "target_id" in body:
        body["target_id"] = hello["id"]
    r = await features_off.post(f"/v1/rooms/{room.id}/messages", json=body, headers=s.auth(ana))
    problem(r, status, code)
    assert [m["id"] for m in (await room.entries(ana))["messages"]] == [hello["id"]]


async def test_hostile_entry_fields_are_4xx_never_500(ms_shared_stack: Any) -> None:
    s = ms_shared_stack
    ana = await s.register_user()
    room = await new_room(s, ana)
    hello = await room.text(ana)
    target = hello["id"]
    cases: list[dict[str, Any]] = [
        {"kind": "reaction", "target_id": target, "emoji": "\u0000"},
        {"kind": "reaction", "target_id": target, "emoji": "\ud83d"},
        {"kind": "reaction", "target_id": target, "emoji": ""},
        {"kind": "reaction", "target_id": target, "emoji": "👍" * 40},
        {"kind": "reaction", "target_id": target, "emoji": "👍👍"},
        {"kind": "reaction", "target_id": target, "emoji": 5},
        {"kind": "reaction", "target_id": target, "emoji": "👍", "added": "yes"},
        {"kind": "reaction", "target_id": target},
        {"kind": "reaction", "emoji": "👍"},
        {"kind": "reaction", "target_id": "not-a-uuid", "emoji": "👍"},
        {"kind": "edit", "target_id": target, "text": "a\u0000b"},
        {"kind": "edit", "target_id": target, "text": None},
        {"kind": "delete"},
        {"kind": "EDIT", "target_id": target, "text": "x"},
        {"kind": 7},
    ]
    for case in cases:
        body = json.dumps({"client_msg_id": str(uuid.uuid4()), **case})  # lone surrogates too
        r = await s.client.post(
            f"/v1/rooms/{room.id}/messages",
            content=body,
            headers={**s.auth(ana), "content-type": "application/json"},
        )
        assert 400 <= r.status_code < 500, (case, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert [m["id"] for m in (await room.entries(ana))["messages"]] == [target]
