"""The edge template: every placeholder filled, and the properties the spec asks of the edge."""

from __future__ import annotations

import json
import re
import subprocess
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
    for match in re.finditer(r"^\s*location ([^{\n#]+)\{", text, re.MULTILINE):
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


# -- anti-automation, headers, plain HTTP (issue #20) ---------------------------------------------

DOCKERFILE = (REPO / "deploy" / "nginx" / "Dockerfile").read_text()
HTTP_REDIRECT = (REPO / "deploy" / "nginx" / "http-redirect.conf").read_text()
LIMIT_NAMES = {*nginx.LOCAL_LIMITS, "EDGE_LIMIT_EXEMPT"}


def dockerfile_env() -> dict[str, str]:
    """The edge image's ENV (production values for compose and Kubernetes)."""
    block = re.search(r"^ENV (.*?)(?<!\\)\n", DOCKERFILE, re.MULTILINE | re.DOTALL)
    assert block is not None
    text = block.group(1).replace("\\\n", " ")
    return {m.group(1): m.group(2).strip('"') for m in re.finditer(r'(\w+)=("[^"]*"|\S+)', text)}


def _map_body(text: str, source: str, variable: str) -> str:
    found = re.search(rf"map {re.escape(source)} {re.escape(variable)} \{{([^}}]*)\}}", text)
    assert found, f"no map {source} {variable}"
    return found.group(1)


def test_every_limit_placeholder_has_a_production_value_and_a_local_one() -> None:
    assert nginx.placeholders(TEMPLATE) >= LIMIT_NAMES
    production = dockerfile_env()
    assert production.keys() >= LIMIT_NAMES, LIMIT_NAMES - production.keys()
    # Production exempts no address; a local stack exempts loopback only.
    assert production["EDGE_LIMIT_EXEMPT"] == ""
    assert nginx.LOCAL_LIMIT_EXEMPT == "127.0.0.1 1; ::1 1;"
    # Local values are at least as generous as production ones.
    for name, local in nginx.LOCAL_LIMITS.items():
        if name == "EDGE_RETRY_AFTER":
            continue
        assert _per_second(local) >= _per_second(production[name]), name


def _per_second(value: str) -> float:
    number, _, unit = value.partition("r/")
    return float(number) / (60 if unit == "m" else 1)


def test_production_limits_leave_room_for_an_office_behind_one_address() -> None:
    """deploy/nginx/README.md: ~1000 people (2000 tabs) behind one NAT address. Access tokens live
    15 minutes, so their refreshes alone are ~2.2/s; a reconnect wave after an outage brings
    every socket back at once."""
    env = dockerfile_env()
    assert _per_second(env["EDGE_AUTH_RATE"]) >= 5
    assert int(env["EDGE_AUTH_BURST"]) >= 50
    assert _per_second(env["EDGE_WRITE_RATE"]) >= 20
    assert int(env["EDGE_WS_CONN"]) >= 2000
    assert int(env["EDGE_WS_BURST"]) >= 500
    assert int(env["EDGE_UPLOAD_CONN"]) >= 20
    # Retry-After is at least one interval of the slowest zone.
    rates = [_per_second(v) for k, v in env.items() if k in LIMIT_NAMES and k.endswith("_RATE")]
    slowest = min(rates)
    assert int(env["EDGE_RETRY_AFTER"]) >= max(1, 1 / slowest)


def test_limit_values_take_environment_overrides_and_refuse_malformed_ones() -> None:
    values = nginx.limit_values({"EDGE_AUTH_RATE": "30r/m", "EDGE_WS_CONN": "7"})
    assert values["EDGE_AUTH_RATE"] == "30r/m"
    assert values["EDGE_WS_CONN"] == "7"
    assert values["EDGE_WRITE_RATE"] == nginx.LOCAL_LIMITS["EDGE_WRITE_RATE"]
    assert nginx.limit_values({"EDGE_LIMIT_EXEMPT": ""})["EDGE_LIMIT_EXEMPT"] == ""
    with pytest.raises(nginx.TemplateError, match="EDGE_AUTH_RATE"):
        nginx.limit_values({"EDGE_AUTH_RATE": "10/s"})
    with pytest.raises(nginx.TemplateError, match="EDGE_WS_BURST"):
        nginx.limit_values({"EDGE_WS_BURST": "0"})


def test_zones_are_keyed_by_client_address_and_refuse_with_429(rendered: str) -> None:
    zones = re.findall(r"limit_req_zone \$(\w+) zone=(\w+):\d+m rate=\d+r/[sm];", rendered)
    assert {zone: key for key, zone in zones} == {
        "edge_auth": "edge_limit_key",
        "edge_writes": "edge_write_key",
        "edge_ws": "edge_limit_key",
        "edge_uploads": "edge_upload_key",
    }
    conns = re.findall(r"limit_conn_zone \$(\w+) zone=(\w+):\d+m;", rendered)
    assert {zone: key for key, zone in conns} == {
        "edge_ws_conn": "edge_limit_key",
        "edge_upload_conn": "edge_upload_key",
    }
    # The key is the client's address (the TCP peer, never a header), empty when exempt; writes
    # and uploads count only their methods.
    key = r'map \$edge_limit_exempt \$edge_limit_key \{\s*1\s+"";\s*default \$binary_remote_addr;'
    assert re.search(key, rendered)
    writes = _map_body(rendered, "$request_method", "$edge_write_key")
    methods = set(re.findall(r"(\w+)\s+\$edge_limit_key;", writes))
    assert methods == {"POST", "PUT", "PATCH", "DELETE"}
    assert 'default "";' in writes
    uploads = _map_body(rendered, "$request_method", "$edge_upload_key")
    assert set(re.findall(r"(\w+)\s+\$edge_limit_key;", uploads)) == {"POST"}
    exempt = r"geo \$edge_limit_exempt \{\s*default 0;\s*127\.0\.0\.1 1; ::1 1;\s*\}"
    assert re.search(exempt, rendered)
    # Never nginx's default 503.
    assert "limit_req_status 429;" in rendered
    assert "limit_conn_status 429;" in rendered


def test_each_zone_guards_its_routes(rendered: str) -> None:
    bodies = _location_bodies(rendered)
    for name in ("login", "register", "refresh", "password-reset"):
        path = f"/v1/auth/{name}"
        body = bodies[f"= {path}"]
        assert re.search(r"limit_req zone=edge_auth burst=\d+ nodelay;", body), path
        assert "proxy_pass http://auth_service;" in body, path
    ws = bodies["= /v1/ws"]
    assert re.search(r"limit_req zone=edge_ws burst=\d+ nodelay;", ws)
    assert re.search(r"limit_conn edge_ws_conn \d+;", ws)
    files = bodies["^~ /v1/files"]
    assert re.search(r"limit_req zone=edge_uploads burst=\d+ nodelay;", files)
    assert re.search(r"limit_req zone=edge_writes burst=\d+ nodelay;", files)
    assert re.search(r"limit_conn edge_upload_conn \d+;", files)
    # Every other REST write: the server-level writes zone, which a location inherits only when it
    # has no limit_req of its own.
    server_level = re.sub(r"^\s*location [^{\n#]+\{[^{}]*\}", "", rendered, flags=re.MULTILINE)
    writes = r"^\s*limit_req zone=edge_writes burst=\d+ nodelay;"
    assert re.search(writes, server_level, re.MULTILINE)
    own = {loc for loc, body in bodies.items() if "limit_req " in body}
    assert own == {
        "= /v1/auth/login", "= /v1/auth/register", "= /v1/auth/refresh",
        "= /v1/auth/password-reset", "= /v1/ws", "^~ /v1/files",
    }  # fmt: skip


def test_the_edges_429_is_a_rate_limited_problem_with_retry_after(rendered: str) -> None:
    assert re.search(r"error_page 429 /_problem/429;", rendered)
    body = _location_bodies(rendered)["= /_problem/429"]
    assert "internal;" in body
    assert "default_type application/problem+json;" in body
    problem = json.loads(re.search(r"return 429 '(.*)';", body).group(1))  # type: ignore[union-attr]
    assert problem["status"] == 429
    assert problem["code"] == "rate_limited"
    assert problem["detail"]
    # Retry-After on the edge's own 429 only: a service's 429 keeps its own single header.
    retry = _map_body(rendered, "$uri", "$edge_retry_after")
    assert re.search(r"/_problem/429 [1-9][0-9]*;", retry)
    assert 'default "";' in retry
    assert "add_header Retry-After $edge_retry_after always;" in rendered


def test_a_location_with_its_own_error_pages_repeats_them_all(rendered: str) -> None:
    """error_page is inherited only by a level that defines none: /v1/files (its own 413) would
    otherwise answer 429, 502 and 504 with nginx's HTML pages."""
    codes = {"400", "413", "414", "429", "502", "503", "504"}
    for loc, body in _location_bodies(rendered).items():
        own = {c for line in re.findall(r"error_page ([\d ]+) ", body) for c in line.split()}
        if own:
            assert codes <= own, f"{loc}: error pages for {sorted(codes - own)} not repeated"


@pytest.mark.parametrize(
    ("header", "variable", "value"),
    [
        ("Permissions-Policy", "edge_permissions_policy", "camera=(), "),
        ("Cross-Origin-Opener-Policy", "edge_coop", "same-origin"),
        ("Cross-Origin-Resource-Policy", "edge_corp", "same-origin"),
    ],
)
def test_isolation_headers_are_added_once_unless_the_upstream_sent_its_own(
    rendered: str, header: str, variable: str, value: str
) -> None:
    assert rendered.count(f"add_header {header} ${variable} always;") == 1
    upstream = "$upstream_http_" + header.lower().replace("-", "_")
    body = _map_body(rendered, upstream, "$" + variable)
    found = re.search(r'^\s*""\s+"([^"]+)";\s*default "";', body)
    assert found, header
    assert value in found.group(1)
    if header == "Permissions-Policy":
        for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
            assert f"{feature}=()" in found.group(1)
        assert "clipboard-write=()" not in found.group(1)  # copying links and text


def test_plain_http_refuses_the_api_and_redirects_pages_only() -> None:
    bodies = _location_bodies(HTTP_REDIRECT)
    api = bodies["^~ /v1/"]
    assert "default_type application/problem+json;" in api
    status, text = re.search(r"return (\d+) '(.*)';", api).groups()  # type: ignore[union-attr]
    problem = json.loads(text)
    assert int(status) == problem["status"] == 403
    assert problem["code"] == "forbidden"
    assert "HTTPS" in problem["detail"]
    assert "return 308 https://$host$request_uri;" in bodies["/"]
    assert "return 3" not in api


@pytest.mark.skipif(nginx.find_nginx() is None, reason="nginx not installed")
def test_nginx_accepts_the_template_with_production_limits(tmp_path: Path) -> None:
    config = StackConfig(
        root=REPO, services=default_services(), log_dir=tmp_path / "log", run_dir=tmp_path
    )
    production = {k: v for k, v in dockerfile_env().items() if k in LIMIT_NAMES}
    conf = nginx.write_local_config(config, tmp_path / "nginx", production)
    (tmp_path / "nginx" / "http.d" / "redirect.conf").write_text(
        HTTP_REDIRECT.replace("listen 80;", "listen 127.0.0.1:28699;")
    )
    binary = nginx.find_nginx()
    assert binary is not None
    argv = nginx.nginx_argv(binary, tmp_path / "nginx", conf, tmp_path / "error.log")
    done = subprocess.run([*argv[:-2], "-t", "-q"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
