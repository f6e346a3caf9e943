"""Search benchmark (issue #18): 1 000 000 messages in 1 000 rooms, a user in 100 of them, 200
queries in three bands through the edge (nginx), EXPLAIN ANALYZE of one query per band.

Its own databases (`chat_search_bench_*`), vhost (`chat-search-bench`) and ports (auth 28801,
message 28803, edge 28880 with `--port-base 28800`); only auth-service, message-service and the
edge run. Steps (default: all but `cleanup`):

    .venv/bin/python bench/search/run.py load      # corpus by COPY, index built and timed
    .venv/bin/python bench/search/run.py query     # stack up, 200 queries, EXPLAINs, JSON result
    .venv/bin/python bench/search/run.py alter     # lock time of a stored tsvector column
    .venv/bin/python bench/search/run.py cleanup   # drop the databases and the vhost

Results: bench/results/search-<stamp>.json and bench/results/search-explain-<band>.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from chat_devtools.config import default_services, find_repo_root
from chat_devtools.stack import Stack
from chat_runtime.db import run_migrations
from sqlalchemy.dialects import postgresql

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from corpus import PLANTED, Corpus
from stack_config import bench_stack_config

ROOT = find_repo_root()
RESULTS = ROOT / "bench" / "results"
SERVER = "postgresql://postgres@127.0.0.1:5432"
MESSAGES_DB = "chat_search_bench_messages"
AUTH_DB = "chat_search_bench_auth"
VHOST = "chat-search-bench"
SEARCHER_ROOMS = 100
INDEX_SQL = (
    "CREATE INDEX messages_search ON messages USING gin "
    "(room_id, to_tsvector('chat_english'::regconfig, replace(text, '<', ' '))) "
    "WHERE kind = 'text' AND NOT deleted"
)
RECENT_SQL = (
    "CREATE INDEX messages_search_recent ON messages (created_at DESC, id DESC) "
    "WHERE kind = 'text' AND NOT deleted"
)
STORED_COLUMN_SQL = (
    "ALTER TABLE messages ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS "
    "(CASE WHEN kind = 'text' AND NOT deleted THEN "
    "to_tsvector('chat_english'::regconfig, replace(text, '<', ' ')) END) STORED"
)


def log(**fields: Any) -> None:
    sys.stderr.write(json.dumps(fields, default=str) + "\n")
    sys.stderr.flush()


async def connect(db: str = MESSAGES_DB) -> asyncpg.Connection:
    return await asyncpg.connect(f"{SERVER}/{db}")


async def drop_databases() -> None:
    admin = await connect("postgres")
    try:
        for name in (MESSAGES_DB, AUTH_DB):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def create_database(name: str) -> None:
    admin = await connect("postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def index_size(conn: asyncpg.Connection) -> dict[str, Any]:
    row = await conn.fetchrow(
        """SELECT pg_relation_size('messages_search') AS index,
                  pg_relation_size('messages_search_recent') AS recent_index,
                  pg_relation_size('messages') AS heap,
                  pg_total_relation_size('messages') AS total,
                  (SELECT count(*) FROM messages) AS messages"""
    )
    assert row is not None
    return dict(row)


async def load(args: argparse.Namespace) -> dict[str, Any]:
    corpus = Corpus(messages=args.messages, rooms=args.rooms)
    await create_database(MESSAGES_DB)
    ini = str(ROOT / "message-service" / "alembic.ini")
    await asyncio.to_thread(
        run_migrations, ini, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{MESSAGES_DB}"
    )
    conn = await connect()
    out: dict[str, Any] = {}
    try:
        # The corpus goes in without the index (as a table of before the migration would).
        await conn.execute("DROP INDEX messages_search")
        await conn.execute("DROP INDEX messages_search_recent")
        now = datetime.now(UTC)
        await conn.copy_records_to_table(
            "rooms",
            records=[
                (
                    r,
                    "channel",
                    f"room-{i}",
                    "public",
                    corpus.room_members[r][0],
                    corpus.start,
                    0,
                    now,
                )
                for i, r in enumerate(corpus.room_ids)
            ],
            columns=[
                "id",
                "kind",
                "name",
                "visibility",
                "created_by",
                "created_at",
                "last_seq",
                "last_activity_at",
            ],
        )
        await conn.copy_records_to_table(
            "memberships",
            records=[(r, u, corpus.start, 0) for r, us in corpus.room_members.items() for u in us],
            columns=["room_id", "user_id", "joined_at", "last_read_seq"],
        )
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "messages",
            records=corpus.rows(),
            columns=[
                "id",
                "room_id",
                "seq",
                "kind",
                "sender_id",
                "text",
                "client_msg_id",
                "created_at",
            ],
        )
        out["copy_s"] = round(time.perf_counter() - started, 1)
        await conn.executemany(
            "UPDATE rooms SET last_seq = $2 WHERE id = $1", list(corpus.last_seq.items())
        )
        await conn.execute("VACUUM ANALYZE")
        started = time.perf_counter()
        await conn.execute(INDEX_SQL)
        out["index_build_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        await conn.execute(RECENT_SQL)
        out["recent_index_build_s"] = round(time.perf_counter() - started, 1)
        await conn.execute("VACUUM ANALYZE messages")
        out["sizes"] = await index_size(conn)
    finally:
        await conn.close()
    log(step="load", **out)
    return out


def rabbitmqctl(*args: str) -> None:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    subprocess.run([ctl, *args], check=False, capture_output=True)


def stack(port_base: int) -> Stack:
    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    work = Path(f"/tmp/chat-search-bench-{port_base}")
    services = tuple(
        s
        for s in default_services(
            auth=(port_base + 1,),
            gateway=(port_base + 2,),
            message=(port_base + 3,),
            presence=(port_base + 4,),
        )
        if s.name in ("auth", "message")
    )
    # message-service through a wrapper that counts `search` as implemented (serve_message.py).
    wrapper = (sys.executable, str(Path(__file__).resolve().parent / "serve_message.py"))
    services = tuple(
        dataclasses.replace(s, command=wrapper) if s.name == "message" else s for s in services
    )
    config = bench_stack_config(
        root=ROOT,
        services=services,
        amqp_url=f"amqp://guest:guest@127.0.0.1:5672/{VHOST}",
        database_urls={
            "chat_auth": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{AUTH_DB}",
            "chat_messages": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{MESSAGES_DB}",
        },
        edge_port=port_base + 80,
        workdir=work,
        env={"CHAT_FEATURES": "entries,search"},
    )
    return Stack(config)


def queries(corpus: Corpus, rooms: list[uuid.UUID], rng: random.Random) -> list[dict[str, Any]]:
    """200 queries: rare words, common words, phrases; a third each without filter, with a room
    and with a person (a member of one of the searcher's rooms)."""
    words = corpus.words
    rare = [w for w in words[30_000:] if len(w) > 5]
    common = [
        "deploy",
        "meeting",
        "release",
        "review",
        "build",
        "test",
        "customer",
        "issue",
        "server",
        "design",
        "update",
        "ticket",
        "database",
        "tomorrow",
        "deployed",
    ]
    common_ops = ["deploy -bug", "invoice or budget", "meetings tomorrow", "Release"]
    planted_rare = ["zanzibarquux", "flibbertigibbet", "naivete", "NAÏVETÉ"]
    phrases = [
        '"postmortem kickoff"',
        '"quarterly okr retrospective"',
        '"creme brulee"',
        '"crème brûlée"',
        '"deploy meeting"',
        '"release review"',
        '"test build"',
        '"customer issue"',
    ]
    bands: dict[str, list[str]] = {
        "rare": planted_rare + rng.sample(rare, 66),
        "common": common + common_ops + rng.choices(common, k=46),
        "phrase": phrases
        + [f'"{a} {b}"' for a, b in (rng.sample(words[20:400], 2) for _ in range(57))],
    }
    out: list[dict[str, Any]] = []
    for band, qs in bands.items():
        for i, q in enumerate(qs):
            params: dict[str, Any] = {"q": q}
            variant = ("none", "room", "person")[i % 3]
            if variant == "room":
                params["room_id"] = str(rng.choice(rooms))
            elif variant == "person":
                params["from"] = str(rng.choice(corpus.room_members[rng.choice(rooms)]))
            out.append({"band": band, "variant": variant, "params": params})
    return out[:200]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[k], 1)


async def explain(conn: asyncpg.Connection, user: uuid.UUID, params: dict[str, Any]) -> str:
    from message_service.store.search import Filters, search_statement

    filters = Filters(
        room_id=uuid.UUID(params["room_id"]) if "room_id" in params else None,
        sender_id=uuid.UUID(params["from"]) if "from" in params else None,
    )
    rooms = [
        r["room_id"]
        for r in await conn.fetch(
            "SELECT room_id FROM memberships"
            " WHERE user_id = $1 AND ($2::uuid IS NULL OR room_id = $2)",
            user,
            filters.room_id,
        )
    ]
    stmt = search_statement(rooms, params["q"], filters, None, 20)
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql)
    return sql + "\n\n" + "\n".join(r[0] for r in rows)


async def run_queries(args: argparse.Namespace, edge: str) -> dict[str, Any]:
    corpus = Corpus(messages=args.messages, rooms=args.rooms)
    rng = random.Random(1818)
    async with httpx.AsyncClient(base_url=edge, timeout=30) as http:
        name = f"searcher_{uuid.uuid4().hex[:8]}"
        password = f"search-{uuid.uuid4().hex}"
        r = await http.post(
            "/v1/auth/register", json={"username": name, "display_name": name, "password": password}
        )
        r.raise_for_status()
        r = await http.post("/v1/auth/login", json={"username": name, "password": password})
        r.raise_for_status()
        body = r.json()
        user = uuid.UUID(body["user"]["id"])
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        rooms = corpus.room_ids[:: max(1, args.rooms // SEARCHER_ROOMS)][:SEARCHER_ROOMS]
        conn = await connect()
        try:
            await conn.copy_records_to_table(
                "memberships",
                records=[(room, user, corpus.start, 0) for room in rooms],
                columns=["room_id", "user_id", "joined_at", "last_read_seq"],
            )
            await conn.execute("ANALYZE memberships")
        finally:
            await conn.close()
        plan = queries(corpus, rooms, rng)
        for item in rng.sample(plan, 30):  # warm-up (prepared statements, caches)
            (
                await http.get("/v1/search", params=item["params"], headers=headers)
            ).raise_for_status()
        for item in plan:
            started = time.perf_counter()
            r = await http.get("/v1/search", params=item["params"], headers=headers)
            item["ms"] = (time.perf_counter() - started) * 1000
            r.raise_for_status()
            item["results"] = len(r.json()["results"])
        # A second page of a common word, through the cursor.
        first = (await http.get("/v1/search", params={"q": "deploy"}, headers=headers)).json()
        started = time.perf_counter()
        second = await http.get(
            "/v1/search", params={"q": "deploy", "cursor": first["next_cursor"]}, headers=headers
        )
        second_page_ms = (time.perf_counter() - started) * 1000
        second.raise_for_status()
    bands: dict[str, Any] = {}
    for band in ("rare", "common", "phrase"):
        ms = [i["ms"] for i in plan if i["band"] == band]
        bands[band] = {
            "queries": len(ms),
            "p50_ms": percentile(ms, 50),
            "p95_ms": percentile(ms, 95),
            "max_ms": round(max(ms), 1),
            "by_variant_p95_ms": {
                v: percentile(
                    [i["ms"] for i in plan if i["band"] == band and i["variant"] == v], 95
                )
                for v in ("none", "room", "person")
            },
            "mean_results": round(
                statistics.mean(i["results"] for i in plan if i["band"] == band), 1
            ),
        }
    conn = await connect()
    try:
        for band, params in (
            ("rare", {"q": planted_rare_word()}),
            ("common", {"q": "deploy"}),
            ("phrase", {"q": '"postmortem kickoff"'}),
            ("common-room", {"q": "meeting", "room_id": str(rooms[3])}),
        ):
            text = await explain(conn, user, params)
            (RESULTS / f"search-explain-{band}.txt").write_text(text + "\n")
        sizes = await index_size(conn)
    finally:
        await conn.close()
    slowest = sorted(plan, key=lambda i: -i["ms"])[:5]
    return {
        "bands": bands,
        "second_page_ms": round(second_page_ms, 1),
        "slowest": [
            {k: i[k] for k in ("band", "variant", "params", "ms", "results")} for i in slowest
        ],
        "sizes": sizes,
        "searcher_rooms": len(rooms),
        "pass": bands["rare"]["p95_ms"] <= 150
        and bands["phrase"]["p95_ms"] <= 150
        and bands["common"]["p95_ms"] <= 400,
    }


def planted_rare_word() -> str:
    return PLANTED[0][0]


async def alter(args: argparse.Namespace) -> dict[str, Any]:
    """How long adding a stored generated tsvector column holds ACCESS EXCLUSIVE on `messages`
    (the table is rewritten), measured; then what a stored vector would give the query the
    expression index handles worst (a phrase of two common words). Run it last: the dropped
    column's bytes stay in the rows until the table is rewritten (the databases are dropped at
    cleanup)."""
    conn = await connect()
    out: dict[str, Any] = {"load_avg": list(os.getloadavg())}
    try:
        heap_before = await conn.fetchval("SELECT pg_relation_size('messages')")
        started = time.perf_counter()
        await conn.execute(STORED_COLUMN_SQL)
        out["stored_column_alter_s"] = round(time.perf_counter() - started, 1)
        out["heap_before"] = heap_before
        out["heap_with_column"] = await conn.fetchval("SELECT pg_relation_size('messages')")
        started = time.perf_counter()
        await conn.execute(
            "CREATE INDEX messages_search_stored ON messages USING gin (room_id, search_tsv) "
            "WHERE kind = 'text' AND NOT deleted"
        )
        out["stored_index_build_s"] = round(time.perf_counter() - started, 1)
        await conn.execute("ANALYZE messages")
        user = await conn.fetchval(
            "SELECT user_id FROM memberships GROUP BY user_id HAVING count(*) = $1 LIMIT 1",
            SEARCHER_ROOMS,
        )
        rooms = [
            r[0]
            for r in await conn.fetch("SELECT room_id FROM memberships WHERE user_id = $1", user)
        ]
        await conn.execute("SET jit = off")
        await conn.execute("SET max_parallel_workers_per_gather = 0")
        plans = {}
        for column in ("expression", "stored"):
            vector = (
                "to_tsvector('chat_english'::regconfig, replace(text, '<', ' '))"
                if column == "expression"
                else "search_tsv"
            )
            for q in ('"test build"', "database"):
                rows = await conn.fetch(
                    "EXPLAIN (ANALYZE, BUFFERS) SELECT id FROM messages"
                    " WHERE room_id = ANY($1::uuid[]) "
                    f"AND kind = 'text' AND NOT deleted AND {vector} @@ "
                    "websearch_to_tsquery('chat_english'::regconfig, $2) "
                    "ORDER BY created_at DESC, id DESC LIMIT 21",
                    rooms,
                    q,
                )
                plans[f"{column} {q}"] = "\n".join(r[0] for r in rows)
        out["execution_ms"] = {
            k: float(v.rsplit("Execution Time: ", 1)[1].split(" ")[0]) for k, v in plans.items()
        }
        (RESULTS / "search-explain-stored-vs-expression.txt").write_text(
            "\n\n".join(f"== {k}\n{v}" for k, v in plans.items()) + "\n"
        )
        await conn.execute("DROP INDEX messages_search_stored")
        await conn.execute("ALTER TABLE messages DROP COLUMN search_tsv")
    finally:
        await conn.close()
    log(step="alter", **out)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("steps", nargs="*", default=["load", "query", "alter"])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=1_000)
    parser.add_argument("--port-base", type=int, default=28800)
    parser.add_argument("--tag", default=datetime.now(UTC).strftime("%Y%m%dT%H%MZ"))
    args = parser.parse_args()
    result: dict[str, Any] = {"messages": args.messages, "rooms": args.rooms}
    for step in args.steps:
        if step == "load":
            result["load"] = asyncio.run(load(args))
        elif step == "query":
            s = stack(args.port_base)
            with s.running():
                result["query"] = asyncio.run(
                    run_queries(args, f"http://127.0.0.1:{args.port_base + 80}")
                )
            log(step="query", **result["query"])
        elif step == "alter":
            result["alter"] = asyncio.run(alter(args))
        elif step == "cleanup":
            asyncio.run(drop_databases())
            rabbitmqctl("delete_vhost", VHOST)
        else:
            parser.error(f"unknown step {step}")
    if "query" in result or "alter" in result or "load" in result:
        path = RESULTS / f"search-{args.tag}.json"
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")
        log(written=str(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
