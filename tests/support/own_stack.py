"""A private stack for manual e2e runs when nothing answers on the standard ports.

    .venv/bin/python tests/support/own_stack.py [--base-port 28100]

Starts the edge and every service with chat_devtools on base+1..5 (services) and base+80 (edge),
against a fresh RabbitMQ vhost and fresh databases (so it never mixes with another stack on the
shared broker), prints the edge URL and blocks until Ctrl-C / SIGTERM. Then run the tests with
`CHAT_E2E_EDGE_URL=http://127.0.0.1:<base+80>` (see tests/support/fixtures.py).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import uuid
from dataclasses import replace
from pathlib import Path

from chat_devtools.config import config_from_env, default_services, find_repo_root
from chat_devtools.stack import Stack, StackError
from chat_runtime.testing import temporary_database, temporary_vhost


async def serve(base_port: int, env: dict[str, str]) -> int:
    tag = uuid.uuid4().hex[:6]
    async with (
        temporary_vhost(f"e2e_{tag}") as amqp_url,
        temporary_database(f"e2e_auth_{tag}") as auth_db,
        temporary_database(f"e2e_msg_{tag}") as msg_db,
        temporary_database(f"e2e_pres_{tag}") as pres_db,
        temporary_database(f"e2e_files_{tag}") as files_db,
    ):
        root = find_repo_root()
        work = Path("/tmp") / f"chat-e2e-stack-{base_port}"
        config = replace(
            config_from_env(root),
            services=default_services(
                auth=(base_port + 1,),
                gateway=(base_port + 2,),
                message=(base_port + 3,),
                presence=(base_port + 4,),
                file=(base_port + 5,),
            ),
            amqp_url=amqp_url,
            database_urls={
                "chat_auth": auth_db,
                "chat_messages": msg_db,
                "chat_presence": pres_db,
                "chat_files": files_db,
            },
            edge_port=base_port + 80,
            log_dir=work / "log",
            run_dir=work / "run",
            env={"CHAT_FILE_DIR": str(work / "files"), **env},
        )
        stack = Stack(config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await asyncio.to_thread(stack.prepare)
            await asyncio.to_thread(stack.start)
        except StackError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 1
        sys.stdout.write(f"edge: http://127.0.0.1:{base_port + 80}  logs: {work / 'log'}\n")
        sys.stdout.flush()
        try:
            await stop.wait()
        finally:
            await asyncio.to_thread(stack.stop)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-port", type=int, default=28100)
    parser.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for services")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    return asyncio.run(serve(args.base_port, env))


if __name__ == "__main__":
    sys.exit(main())
