"""GET /v1/search (api-v1.1 D) against a real database: membership at query time, deleted and
edited entries, highlight escaping, the (created_at, id) cursor over equal times, web-search
syntax, accents and stems, filters, refusals."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from chat_runtime.features import Features
from message_service.api.search import search_features
from message_service.domain.search import Cursor
from message_service.store.search import Filters, search_statement
from message_service.store.tables import messages, rooms

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SEARCH_ON = Features(
    on=frozenset({"entries", "search"}), implemented=frozenset({"entries", "search"})
)
SEARCH_OFF = Features(on=frozenset({"entries"}), implemented=frozenset({"entries", "search"}))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def s(ms_shared_stack: Any) -> AsyncIterator[Any]:
    """The module's stack with `search` on, whatever this release's default features are."""
    app = ms_shared_stack.app
    app.dependency_overrides[search_features] = lambda: SEARCH_ON
    try:
        yield ms_shared_stack
    finally:
        app.dependency_overrides.pop(search_features, None)


async def post(s: Any, room: str, user: uuid.UUID, **fields: Any) -> dict[str, Any]:
    body = {"client_msg_id": str(uuid.uuid4()), **fields}
    r = await s.client.post(f"/v1/rooms/{room}/messages", json=body, headers=s.auth(user))
    assert r.status_code == 201, r.text
    message: dict[str, Any] = r.json()["message"]
    return message


async def join(s: Any, room: str, user: uuid.UUID) -> None:
    r = await s.client.post(f"/v1/rooms/{room}/members", json={}, headers=s.auth(user))
    assert r.status_code == 200, r.text


async def search(s: Any, user: uuid.UUID, q: str, **params: Any) -> dict[str, Any]:
    r = await s.client.get("/v1/search", params={"q": q, **params}, headers=s.auth(user))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def texts(s: Any, user: uuid.UUID, q: str, **params: Any) -> list[str]:
    return [hit["message"]["text"] for hit in (await search(s, user, q, **params))["results"]]


async def test_only_rooms_the_caller_is_a_member_of_now(s: Any) -> None:
    ana, ben = await s.register_user(), await s.register_user()
    public = await s.room(ana, "public")
    private = await s.room(ana, "private")
    await join(s, public, ben)
    await post(s, public, ana, text="kumquat in the public room")
    await post(s, private, ana, text="kumquat in the private room")

    assert await texts(s, ana, "kumquat") == [
        "kumquat in the private room",
        "kumquat in the public room",
    ]
    hit = (await search(s, ben, "kumquat"))["results"]
    assert [(h["room_id"], h["message"]["text"]) for h in hit] == [
        (public, "kumquat in the public room")
    ]
    # A private room never joined: not even when named.
    assert await texts(s, ben, "kumquat", room_id=private) == []
    # A room left: nothing from it any more, also what was found before.
    r = await s.client.delete(f"/v1/rooms/{public}/members/me", headers=s.auth(ben))
    assert r.status_code in (200, 204), r.text
    assert await texts(s, ben, "kumquat") == []
    assert await texts(s, ben, "kumquat", room_id=public) == []


async def test_deleted_never_edited_by_current_text_with_state(s: Any) -> None:
    ana, ben = await s.register_user(), await s.register_user()
    room = await s.room(ana)
    await join(s, room, ben)
    typo = await post(s, room, ana, text="meet at the lighthousse")
    await post(s, room, ana, kind="edit", target_id=typo["id"], text="meet at the lighthouse")
    gone = await post(s, room, ana, text="the lighthouse password is hunter2")
    await post(s, room, ana, kind="delete", target_id=gone["id"])
    await post(s, room, ben, kind="reaction", target_id=typo["id"], emoji="👍")

    assert await texts(s, ana, "lighthousse") == []  # the old wording is gone
    assert await texts(s, ana, "hunter2") == []  # deleted: never, also not by its edits
    body = await search(s, ben, "lighthouse")
    (hit,) = body["results"]  # the target only: the edit entry is not a result of its own
    message = hit["message"]
    assert (message["id"], message["kind"], message["text"]) == (
        typo["id"],
        "text",
        "meet at the lighthouse",
    )
    assert message["edited_at"] is not None
    assert message["deleted"] is False
    assert message["reactions"] == [{"emoji": "👍", "count": 1, "user_ids": [str(ben)], "me": True}]
    assert message["state_seq"] > message["seq"]
    assert hit["highlights"] == "meet at the <mark>lighthouse</mark>"
    assert body["next_cursor"] is None


async def test_highlights_escape_everything_but_mark(s: Any) -> None:
    ana = await s.register_user()
    room = await s.room(ana)
    raw = '<script>alert("pomelo")</script> & <b>pomelo</b> \ue000x\ue001 &amp;'
    await post(s, room, ana, text=raw)
    (hit,) = (await search(s, ana, "pomelo"))["results"]
    assert hit["message"]["text"] == raw  # the message itself is verbatim (JSON)
    assert hit["highlights"] == (
        "&lt;script&gt;alert(&quot;<mark>pomelo</mark>&quot;)&lt;/script&gt; &amp; "
        "&lt;b&gt;<mark>pomelo</mark>&lt;/b&gt; x &amp;amp;"
    )
    # Words inside what looks like a tag are found too.
    assert len((await search(s, ana, "script"))["results"]) == 1

    long_text = " ".join(["filler"] * 250 + ["<i>pomelo</i>"] + ["filler"] * 250)
    await post(s, room, ana, text=long_text)
    hits = (await search(s, ana, "pomelo"))["results"]
    fragment = hits[0]["highlights"]
    assert "&lt;i&gt;<mark>pomelo</mark>&lt;/i&gt;" in fragment
    assert len(fragment) < 400  # a fragment of a long message, not all of it
    assert "<i>" not in fragment
    assert "<script>" not in hits[1]["highlights"]


async def test_cursor_pages_over_equal_created_at(s: Any) -> None:
    """A batch commit gives its messages one created_at: pages split inside such a group
    without repeating or skipping any."""
    ana = await s.register_user()
    room = await s.room(ana)
    ids: list[uuid.UUID] = []
    async with s.host.require_sessions()() as session, session.begin():
        same = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
        last_seq = (
            await session.execute(sa.select(rooms.c.last_seq).where(rooms.c.id == uuid.UUID(room)))
        ).scalar_one()
        rows = []
        for i in range(11):
            ids.append(uuid.uuid4())
            rows.append(
                {
                    "id": ids[-1],
                    "room_id": uuid.UUID(room),
                    "seq": last_seq + 1 + i,
                    "kind": "text",
                    "sender_id": ana,
                    "text": f"tamarind batch {i}",
                    "client_msg_id": uuid.uuid4(),
                    # 8 share one time (a batch), then 3 later ones
                    "created_at": same if i < 8 else same + timedelta(seconds=i),
                }
            )
        await session.execute(sa.insert(messages), rows)
        await session.execute(
            sa.update(rooms).where(rooms.c.id == uuid.UUID(room)).values(last_seq=last_seq + 11)
        )
    expected = sorted(
        ((r["created_at"], r["id"]) for r in rows), key=lambda t: (t[0], t[1]), reverse=True
    )
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        body = await search(s, ana, "tamarind", **params)
        seen += [h["message"]["id"] for h in body["results"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(i) for _, i in expected]  # newest first, ties by id, no dupes or gaps
    assert pages == 4
    # limit bounds
    assert len((await search(s, ana, "tamarind", limit=50))["results"]) == 11
    assert len((await search(s, ana, "tamarind"))["results"]) == 11  # default 20


async def test_web_search_syntax_accents_and_stems(s: Any) -> None:
    ana = await s.register_user()
    room = await s.room(ana)
    for text in (
        "quince jam recipe",
        "recipe for quince jam",
        "quince tart",
        "durian smoothie",
        "Café Crème meetings were deployed",
        "naïve résumé",
    ):
        await post(s, room, ana, text=text)

    assert await texts(s, ana, '"quince jam"') == ["recipe for quince jam", "quince jam recipe"]
    assert await texts(s, ana, '"jam quince"') == []
    assert sorted(await texts(s, ana, "tart or durian")) == ["durian smoothie", "quince tart"]
    assert sorted(await texts(s, ana, "quince -recipe")) == ["quince tart"]
    assert await texts(s, ana, "quince jam") == ["recipe for quince jam", "quince jam recipe"]
    # accents and case, both ways; English stems
    for q in ("cafe", "CAFÉ", "creme", "meeting", "deploying", "deploy", '"cafe creme"'):
        assert await texts(s, ana, q) == ["Café Crème meetings were deployed"], q
    assert await texts(s, ana, "naive resume") == ["naïve résumé"]
    # only stop words, or only syntax: no terms, no results (not an error)
    assert await texts(s, ana, "the") == []
    assert await texts(s, ana, '" - or') == []


async def test_filters_room_person_and_time(s: Any) -> None:
    ana, ben = await s.register_user(), await s.register_user()
    one, two = await s.room(ana), await s.room(ana)
    await join(s, one, ben)
    a = await post(s, one, ana, text="lychee from ana")
    b = await post(s, one, ben, text="lychee from ben")
    c = await post(s, two, ana, text="lychee elsewhere")
    assert await texts(s, ana, "lychee", room_id=one) == [b["text"], a["text"]]
    assert await texts(s, ana, "lychee", **{"from": str(ben)}) == [b["text"]]
    assert await texts(s, ana, "lychee", after=b["created_at"]) == [c["text"], b["text"]]
    assert await texts(s, ana, "lychee", before=b["created_at"]) == [a["text"]]
    assert await texts(s, ana, "lychee", after=a["created_at"], before=c["created_at"]) == [
        b["text"],
        a["text"],
    ]


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    return body


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "a\x00b"}, "q"),
        ({"q": "x" * 257}, "q"),
        ({"q": "word " * 400}, "q"),
        ({"q": "a", "cursor": "garbage"}, "cursor"),
        ({"q": "a", "cursor": "AQ"}, "cursor"),
        ({"q": "a", "cursor": "Af____________________________________8"}, "cursor"),
        ({"q": "a", "cursor": "x" * 300}, "cursor"),
        ({"q": "a", "room_id": "nope"}, "room_id"),
        ({"q": "a", "from": "123"}, "from"),
        ({"q": "a", "after": "yesterday"}, "after"),
        ({"q": "a", "before": "2026-01-01T00:00:00"}, "before"),  # no time zone
        ({"q": "a", "limit": 0}, "limit"),
        ({"q": "a", "limit": 51}, "limit"),
        ({}, "q"),
    ],
)
async def test_bad_parameters_are_422(s: Any, params: dict[str, Any], field: str) -> None:
    ana = await s.register_user()
    r = await s.client.get("/v1/search", params=params, headers=s.auth(ana))
    body = problem(r, 422, "validation_failed")
    assert field in {e["field"] for e in body["errors"]}, body


async def test_hostile_queries_never_fail(s: Any) -> None:
    ana = await s.register_user()
    room = await s.room(ana)
    await post(s, room, ana, text="plain words here")
    for q in ("'", "\\", "&|!()<->:*", '"unclosed', "-", "or or or", "a:*", "💥", "\u202e"):
        r = await s.client.get("/v1/search", params={"q": q}, headers=s.auth(ana))
        assert r.status_code == 200, (q, r.text)
    # Times at the ends of the calendar (year 0 and 10000 once in UTC).
    for params in (
        {"after": "0001-01-01T00:00:00-05:00"},
        {"before": "9999-12-31T23:59:59-14:00"},
        {"after": "9999-12-31T23:59:59+14:00", "before": "0001-01-01T00:00:00+14:00"},
    ):
        r = await s.client.get("/v1/search", params={"q": "words", **params}, headers=s.auth(ana))
        assert r.status_code in (200, 422), (params, r.text)


async def test_feature_off_and_unauthenticated(s: Any) -> None:
    ana = await s.register_user()
    s.app.dependency_overrides[search_features] = lambda: SEARCH_OFF
    try:
        r = await s.client.get("/v1/search", params={"q": "x"}, headers=s.auth(ana))
        problem(r, 403, "feature_disabled")
    finally:
        s.app.dependency_overrides[search_features] = lambda: SEARCH_ON
    r = await s.client.get("/v1/search", params={"q": "x"})
    assert r.status_code == 401


async def test_the_query_can_use_both_search_indexes(s: Any) -> None:
    """The query repeats the indexes' expression and predicate exactly (else: a sequential scan
    over every message): the GIN index, and the newest-first index (which also takes the
    cursor)."""
    user = uuid.uuid4()
    stmt = search_statement([user], "deploy", Filters(), Cursor(datetime.now(UTC), user), 20)
    plans = []
    async with s.host.require_sessions()() as session:
        dialect = session.get_bind().dialect
        sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        transaction = await session.begin()
        # Leave one index to choose at a time (in a transaction that is rolled back).
        await session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        await session.execute(sa.text("DROP INDEX messages_unread"))
        await session.execute(sa.text("ALTER TABLE messages DROP CONSTRAINT messages_room_seq"))
        for index in ("messages_search_recent", "messages_search"):
            savepoint = await session.begin_nested()
            await session.execute(sa.text(f"DROP INDEX {index}"))
            plans.append("\n".join(r[0] for r in await session.execute(sa.text("EXPLAIN " + sql))))
            await savepoint.rollback()
        await transaction.rollback()
    assert "Bitmap Index Scan on messages_search " in plans[0], plans[0]
    assert "Index Scan using messages_search_recent" not in plans[0]
    assert "Index Scan using messages_search_recent" in plans[1], plans[1]
    assert "Index Cond: (ROW(created_at, id) < ROW(" in plans[1], plans[1]
