"""The supervisord configuration `make run` writes: restart policy, rotation, quoting."""

from __future__ import annotations

from pathlib import Path

import pytest
from chat_devtools.config import StackConfig
from chat_devtools.stack import StackError
from chat_devtools.supervised import Program, render_config

pytestmark = pytest.mark.unit

ROOT = Path("/repo")


def program(**env: str) -> Program:
    return Program(
        name="message",
        argv=["/venv/bin/python", "-m", "message_service"],
        env=env,
        log=ROOT / "var" / "log" / "message.log",
    )


def sections(text: str) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = result.setdefault(line[1:-1], {})
        elif "=" in line and not line.startswith(";"):
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return result


def test_every_program_restarts_with_backoff_and_rotated_logs() -> None:
    config = StackConfig(root=ROOT)
    text = render_config(config, [program()], ROOT / "var" / "run" / "s.sock", start_retries=4)
    conf = sections(text)
    prog = conf["program:message"]
    assert prog["autorestart"] == "true"
    assert prog["startretries"] == "4"
    assert int(prog["startsecs"]) > 0
    assert prog["stopasgroup"] == prog["killasgroup"] == "true"
    assert prog["stdout_logfile"] == "/repo/var/log/message.log"
    assert prog["stdout_logfile_maxbytes"] == "10MB"
    assert int(prog["stdout_logfile_backups"]) > 0
    assert prog["redirect_stderr"] == "true"
    assert conf["supervisord"]["nodaemon"] == "true"
    assert conf["supervisord"]["logfile"] == "/repo/var/log/supervisord.log"
    assert conf["unix_http_server"]["file"] == "/repo/var/run/s.sock"


def test_environment_is_quoted_and_percent_escaped() -> None:
    env = {"CHAT_ALLOWED_ORIGINS": "http://a:1,http://b:2", "CHAT_X": "50%"}
    prog = sections(render_config(StackConfig(root=ROOT), [program(**env)], ROOT / "s"))
    line = prog["program:message"]["environment"]
    assert line == 'CHAT_ALLOWED_ORIGINS="http://a:1,http://b:2",CHAT_X="50%%"'


def test_a_value_supervisord_cannot_carry_is_refused() -> None:
    with pytest.raises(StackError, match="double quote"):
        render_config(StackConfig(root=ROOT), [program(CHAT_X='a"b')], ROOT / "s")


def test_make_run_supervises_every_message_service_replica() -> None:
    """CHAT_STACK_MESSAGE_SERVICES=2 make run: a second message-service (port 28013) on the same
    database and broker, under supervisord like the first (the edge sends REST to both)."""
    from dataclasses import replace

    from chat_devtools.config import config_from_env
    from chat_devtools.supervised import programs

    config = replace(config_from_env(ROOT, {"CHAT_STACK_MESSAGE_SERVICES": "2"}), edge_port=None)
    progs = {p.name: p for p in programs(config)}
    assert progs["message"].env["CHAT_PORT"] == "8003"
    assert progs["message-2"].env["CHAT_PORT"] == "28013"
    assert progs["message-2"].argv == progs["message"].argv
    assert progs["message-2"].env["CHAT_DATABASE_URL"] == progs["message"].env["CHAT_DATABASE_URL"]
    assert progs["message-2"].log == ROOT / "var" / "log" / "message-2.log"
    conf = sections(render_config(config, list(progs.values()), ROOT / "s"))
    assert 'CHAT_PORT="28013"' in conf["program:message-2"]["environment"]
