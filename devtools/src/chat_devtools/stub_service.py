"""A stand-in service for testing the tooling itself (stack, edge routing) without the real ones.

Answers /healthz, /readyz, /metrics like a real service and echoes any other request as JSON
(method, path, the headers it received, its own name), so edge tests can see what nginx forwards.
Env: CHAT_PORT, CHAT_HOST, STUB_NAME, STUB_READY_AFTER (seconds), STUB_EXIT (exit code at start).
A request whose query has `stub_hold=<seconds>` is answered that much later (a request the edge
keeps open, like a WebSocket, for its connection limits).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from urllib.parse import parse_qs, urlsplit

STARTED = time.monotonic()


class Handler(BaseHTTPRequestHandler):
    server_version = "stub"

    def _send(self, status: int, body: dict[str, object], ctype: str = "application/json") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        ready_after = float(os.environ.get("STUB_READY_AFTER", "0"))
        if self.path == "/healthz":
            self._send(200, {"status": "ok"})
        elif self.path == "/readyz":
            ready = time.monotonic() - STARTED >= ready_after
            self._send(200 if ready else 503, {"status": "ready" if ready else "starting"})
        else:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            hold = parse_qs(urlsplit(self.path).query).get("stub_hold")
            if hold:
                time.sleep(min(float(hold[0]), 30.0))
            self._send(
                200,
                {
                    "service": os.environ.get("STUB_NAME", "stub"),
                    "port": int(os.environ.get("CHAT_PORT", "0")),
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                },
            )

    do_GET = _handle
    do_POST = _handle
    do_DELETE = _handle

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(json.dumps({"event": "request", "line": format % args}) + "\n")


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main() -> int:
    code = os.environ.get("STUB_EXIT")
    if code is not None:
        sys.stderr.write(f"stub configured to fail at start with exit code {code}\n")
        return int(code)
    signal.signal(signal.SIGTERM, _stop)
    server = ThreadingHTTPServer(
        (os.environ.get("CHAT_HOST", "127.0.0.1"), int(os.environ["CHAT_PORT"])), Handler
    )
    server.daemon_threads = True
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
