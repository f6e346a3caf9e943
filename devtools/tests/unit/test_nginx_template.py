"""The edge template: every placeholder filled, and the properties the spec asks of the edge."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from chat_devtools import nginx
from chat_devtools.config import StackConfig, default_services, find_repo_root

pytestmark = pytest.mark.unit

REPO = find_repo_root(Path(__file__).parent)
TEMPLATE = (REPO / "deploy" / "nginx" / "nginx.conf").read_text()


@pytest.fixture
def rendered() -> str:
    config = StackConfig(root=REPO, services=default_services(gateway=(8002, 28012)))
    return nginx.render(TEMPLATE, nginx.local_values(config, Path("/tmp/edge-work")))


def test_render_refuses_a_missing_value() -> None:
    with pytest.raises(nginx.TemplateError, match="EDGE_LISTEN"):
        nginx.render("listen ${EDGE_LISTEN};", {})


def test_render_leaves_nginx_variables_alone() -> None:
    template = "set $a ${EDGE_X}; proxy_set_header X-Real-IP $remote_addr;"
    out = nginx.render(template, {"EDGE_X": "1"})
    assert out == "set $a 1; proxy_set_header X-Real-IP $remote_addr;"


def test_local_render_fills_every_placeholder_and_lists_replicas(rendered: str) -> None:
    assert "${" not in rendered
    assert "server 127.0.0.1:8002 " in rendered
    assert "server 127.0.0.1:28012 " in rendered
    assert "listen 127.0.0.1:8080;" in rendered


def test_connection_limits_are_raised_above_debian_defaults(rendered: str) -> None:
    connections = int(re.search(r"worker_connections\s+(\d+);", rendered).group(1))  # type: ignore[union-attr]
    files = int(re.search(r"worker_rlimit_nofile\s+(\d+);", rendered).group(1))  # type: ignore[union-attr]
    assert connections >= 16384
    assert files >= 2 * connections


def test_client_address_headers_are_overwritten_never_appended(rendered: str) -> None:
    assert "$proxy_add_x_forwarded_for" not in rendered
    assert rendered.count("proxy_set_header X-Real-IP $remote_addr;") == 2  # server + /v1/ws
    assert rendered.count("proxy_set_header X-Forwarded-For $remote_addr;") == 2


def test_security_headers_are_sent_always_and_csp_forbids_inline_script(rendered: str) -> None:
    for header in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy",
                   "X-Frame-Options"):
        assert re.search(rf"add_header {header} .* always;", rendered), header
    # The page policy is the edge's default: added when the upstream sent no policy of its own
    # (file bytes carry `sandbox`, api-v1.1 E).
    assert "add_header Content-Security-Policy $edge_csp always;" in rendered
    default = r'map \$upstream_http_content_security_policy \$edge_csp \{\s*""\s+"([^"]+)";'
    csp = re.search(default, rendered).group(1)  # type: ignore[union-attr]
    assert "script-src 'self';" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "img-src 'self' data: blob:;" in csp


def test_file_uploads_alone_pass_the_64k_limit_and_stream(rendered: str) -> None:
    files = _location_bodies(rendered)["^~ /v1/files"]
    limit = int(re.search(r"client_max_body_size (\d+);", files).group(1))  # type: ignore[union-attr]
    assert limit == 25 * 1024 * 1024 + 1024 * 1024
    assert "proxy_request_buffering off;" in files
    assert "proxy_buffering off;" in files
    assert re.search(r"^\s*client_max_body_size 64k;", rendered, re.MULTILINE)


def _location_bodies(text: str) -> dict[str, str]:
    bodies: dict[str, str] = {}
    for match in re.finditer(r"location ([^{]+)\{", text):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        bodies[match.group(1).strip()] = text[match.end() : i - 1]
    return bodies


def test_no_location_drops_the_security_headers(rendered: str) -> None:
    # add_header inside a location would replace (not extend) the server-level headers there.
    offenders = [loc for loc, body in _location_bodies(rendered).items() if "add_header" in body]
    assert offenders == []


def test_api_routes_go_to_the_right_upstreams(rendered: str) -> None:
    bodies = _location_bodies(rendered)
    assert "proxy_pass http://auth_service;" in bodies["^~ /v1/auth/"]
    assert "proxy_pass http://auth_service;" in bodies["^~ /v1/users"]
    assert "proxy_pass http://message_service;" in bodies["^~ /v1/rooms"]
    assert "proxy_pass http://message_service;" in bodies["^~ /v1/dms"]
    assert "proxy_pass http://message_service;" in bodies["^~ /v1/search"]
    assert "proxy_pass http://presence_service;" in bodies["^~ /v1/presence"]
    ws = bodies["= /v1/ws"]
    assert "proxy_pass http://gateway_service;" in ws
    assert "proxy_set_header Upgrade $http_upgrade;" in ws
    timeout = int(re.search(r"proxy_read_timeout (\d+)s;", ws).group(1))  # type: ignore[union-attr]
    assert timeout > 25
    assert "try_files $uri /index.html =404;" in bodies["/"]


def test_nginx_errors_are_problem_json(rendered: str) -> None:
    bodies = _location_bodies(rendered)
    for code in (400, 413, 414, 502, 503, 504):
        assert re.search(rf"error_page {code}( \d+)* /_problem/{code};", rendered), code
        body = bodies[f"= /_problem/{code}"]
        assert "internal;" in body
        assert "default_type application/problem+json;" in body
        assert f'"status":{code}' in body
        assert '"detail":"' in body


def test_access_log_is_json(rendered: str) -> None:
    assert re.search(r"log_format chat_json escape=json", rendered)
    assert re.search(r"access_log \S+ chat_json;", rendered)


def test_the_access_log_leaves_query_strings_out(rendered: str) -> None:
    """Signed file links (api-v1.1 E) carry their token in the query string, search its text."""
    log_format = rendered[rendered.index("log_format chat_json") : rendered.index("access_log")]
    assert '"request":"$request_method $uri $server_protocol"' in log_format
    assert "$request\"" not in log_format
    assert "$args" not in log_format
    assert "$request_uri" not in log_format
