"""The broker link over TLS with CHAT_AMQP_CA_FILE (issue #20): a private RabbitMQ node on this
helper's port block, configured with docker compose's own deploy/compose/rabbitmq-tls.conf
(AMQP over TLS only) and a certificate from a fresh CA. The runtime's Broker connects with the
CA's context and round-trips a message; another CA and plain AMQP are refused."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import pytest
import pytest_asyncio
import trustme
from chat_runtime.messaging import Broker
from chat_runtime.settings import BaseServiceSettings

pytestmark = [pytest.mark.integration, pytest.mark.security]

AMQPS_PORT, DIST_PORT = 28240, 28241  # this helper's private block (28200-28299)
NODE = "chatsecretstls@localhost"
REPO = Path(__file__).resolve().parents[4]
COMPOSE_CONF = REPO / "deploy" / "compose" / "rabbitmq-tls.conf"
SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
CTL = Path("/usr/lib/rabbitmq/bin/rabbitmqctl")


@pytest.fixture(scope="module")
def tls_node() -> Iterator[tuple[str, Path]]:
    """A TLS-only RabbitMQ node for `localhost`: its amqps:// URL and the CA bundle."""
    if not (SERVER.is_file() and CTL.is_file()):
        pytest.skip("rabbitmq-server not installed")
    root = Path(tempfile.mkdtemp(prefix="chat-tls-rmq-"))
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    cert = ca.issue_cert("localhost")
    cert.cert_chain_pems[0].write_to_path(str(root / "server.crt"))
    cert.private_key_pem.write_to_path(str(root / "server.key"))
    conf = COMPOSE_CONF.read_text()
    conf = conf.replace("/etc/chat/tls/ca.crt", str(root / "ca.pem"))
    conf = conf.replace("/etc/chat/tls/rabbitmq.crt", str(root / "server.crt"))
    conf = conf.replace("/etc/chat/tls/rabbitmq.key", str(root / "server.key"))
    conf = conf.replace("listeners.ssl.default = 5671", f"listeners.ssl.default = {AMQPS_PORT}")
    (root / "rabbitmq.conf").write_text(conf)
    (root / "enabled_plugins").write_text("[].\n")
    env = {
        **os.environ,
        "HOME": str(root),
        "RABBITMQ_NODENAME": NODE,
        "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
        "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
        "RABBITMQ_LOG_BASE": str(root / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
        "RABBITMQ_DIST_PORT": str(DIST_PORT),
        "RABBITMQ_PID_FILE": str(root / "pid"),
    }
    log = (root / "out.log").open("w")
    server = subprocess.Popen([str(SERVER)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # Blocks until the node has booted (its pid file written and the applications started).
        subprocess.run(
            [str(CTL), "-n", NODE, "wait", "--timeout", "60", str(root / "pid")],
            env=env, check=True, capture_output=True, timeout=90,
        )  # fmt: skip
        yield f"amqps://guest:guest@localhost:{AMQPS_PORT}/", root / "ca.pem"
    finally:
        subprocess.run([str(CTL), "-n", NODE, "stop"], env=env, capture_output=True, timeout=60)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest_asyncio.fixture
async def broker(tls_node: tuple[str, Path]) -> AsyncIterator[Broker]:
    url, bundle = tls_node
    settings = BaseServiceSettings(amqp_url=url, amqp_ca_file=bundle)
    connected = Broker(url, service="tls-test", ssl_context=settings.amqp_ssl_context())
    await connected.connect(retry_for_s=10)
    try:
        yield connected
    finally:
        await connected.close()


async def test_the_broker_connects_over_tls_and_round_trips(broker: Broker) -> None:
    assert broker.is_ready()
    queue = await broker.channel.declare_queue("", exclusive=True)
    await broker.channel.default_exchange.publish(
        aio_pika.Message(b"over tls"), routing_key=queue.name
    )
    message = await queue.get(timeout=5)
    assert message is not None
    assert message.body == b"over tls"
    await message.ack()


async def test_another_ca_is_refused(tls_node: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = tls_node
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    settings = BaseServiceSettings(amqp_url=url, amqp_ca_file=other)
    refused = Broker(url, service="tls-test", ssl_context=settings.amqp_ssl_context())
    with pytest.raises(aio_pika.exceptions.AMQPConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        await refused.connect(retry_for_s=0)


async def test_plain_amqp_finds_no_listener(tls_node: tuple[str, Path]) -> None:
    # compose's rabbitmq-tls.conf: `listeners.tcp = none`, and the TLS port speaks only TLS.
    plain = f"amqp://guest:guest@localhost:{AMQPS_PORT}/"
    with pytest.raises(aio_pika.exceptions.AMQPConnectionError):
        await asyncio.wait_for(aio_pika.connect(plain), timeout=10)
