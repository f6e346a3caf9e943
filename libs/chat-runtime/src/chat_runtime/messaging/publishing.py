"""What is published (`OutgoingMessage`), what became of it (`PublishResult`), and the frames.

Below aio-pika's `Exchange.publish` on purpose: that builds a Message object, opens a deadline
and waits for the socket to drain per message, and was the largest share of the relay's and the
gateway's CPU. Here a batch has one deadline and each frame is queued without a drain wait.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiormq
import chat_contracts
import msgspec
from pamqp import commands as spec

from chat_runtime.logging import correlation_id_var
from chat_runtime.messaging.errors import PublishError


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message for `Broker.publish`: the body is the encoded JSON of its contract."""

    routing_key: str
    type_name: str
    body: bytes
    message_id: str | None = None
    correlation_id: str | None = None
    headers: Mapping[str, Any] | None = None
    persistent: bool = True
    reply_to: str | None = None

    @classmethod
    def of(
        cls,
        routing_key: str,
        body: msgspec.Struct,
        *,
        message_id: str | None = None,
        correlation_id: str | None = None,
        headers: Mapping[str, Any] | None = None,
        persistent: bool = True,
        reply_to: str | None = None,
        extra_fields: Mapping[str, msgspec.Raw] | None = None,
    ) -> OutgoingMessage:
        """The message for a contract struct (its type name is the struct's contract).

        `extra_fields`: fields no contract of this release names, carried verbatim beside the
        struct's own (which win): a gateway forwards every field of a client's `message.send`.
        """
        encoded = chat_contracts.encode(body)
        if extra_fields:
            merged = {**extra_fields, **chat_contracts.raw_fields(encoded)}
            encoded = msgspec.json.encode(merged)
        return cls(
            routing_key=routing_key,
            type_name=chat_contracts.contract_of(body),
            body=encoded,
            message_id=message_id,
            correlation_id=correlation_id,
            headers=headers,
            persistent=persistent,
            reply_to=reply_to,
        )


class PublishResult(list[PublishError | None]):
    """Per message, in order: None when the broker took it (confirmed, with confirms), else the
    `PublishError` it got (nack, unroutable when mandatory, timeout, channel lost)."""

    @property
    def ok(self) -> bool:
        return all(failure is None for failure in self)

    def raise_first(self) -> None:
        """Raise the first message's failure, if any (for callers that need all or nothing)."""
        for failure in self:
            if failure is not None:
                raise failure


def message_properties(
    message: OutgoingMessage,
    *,
    app_id: str,
    timestamp: datetime | None = None,
    trace_headers: Mapping[str, Any] | None = None,
    expiration: float | None = None,
    user_id: str | None = None,
) -> spec.Basic.Properties:
    """The AMQP properties: a message's own traceparent is kept, else the batch's is used; the
    correlation id comes from the message, else the context, else a new one."""
    headers = dict(message.headers or {})
    if trace_headers and "traceparent" not in headers:
        headers.update(trace_headers)
    return spec.Basic.Properties(
        content_type="application/json",
        message_type=message.type_name,
        message_id=message.message_id or str(uuid.uuid4()),
        correlation_id=message.correlation_id or correlation_id_var.get() or str(uuid.uuid4()),
        timestamp=timestamp or datetime.now(UTC),
        headers=headers,
        delivery_mode=2 if message.persistent else 1,
        app_id=app_id,
        user_id=user_id,
        reply_to=message.reply_to,
        expiration=None if expiration is None else str(int(expiration * 1000)),
    )


def _failure(task: asyncio.Future[Any], exchange: str, routing_key: str) -> PublishError | None:
    """What became of one `basic_publish(wait=False)`: None when the broker took it."""
    if task.cancelled():
        return PublishError("no confirmation from the broker in time")
    exc = task.exception()
    if exc is None:
        result = task.result()
        if result is None or isinstance(result, spec.Basic.Ack):
            return None  # None: an unconfirmed channel wrote it
        return PublishError(f"broker refused the message ({result!r})")
    if isinstance(exc, aiormq.exceptions.PublishError):
        return PublishError(f"unroutable: nothing bound to {exchange!r} with key {routing_key!r}")
    if isinstance(exc, aiormq.exceptions.DeliveryError):
        return PublishError(f"broker refused the message ({exc.frame!r})")
    return PublishError(f"broker unavailable: {exc!r}")


async def publish_frames(
    channel: aiormq.Channel,
    exchange: str,
    messages: Sequence[OutgoingMessage],
    *,
    app_id: str,
    trace_headers: Mapping[str, Any],
    mandatory: bool,
    user_id: str | None = None,
    timeout: float,  # noqa: ASYNC109 - one deadline for the whole batch
) -> PublishResult:
    """Publish in list order, all in flight at once, and wait (up to `timeout`) for them all."""
    now = datetime.now(UTC)
    # Tasks start in creation order and take the channel's FIFO lock without an earlier
    # suspension, so the broker receives the messages in list order.
    tasks = [
        asyncio.ensure_future(
            channel.basic_publish(
                message.body,
                exchange=exchange,
                routing_key=message.routing_key,
                properties=message_properties(
                    message,
                    app_id=app_id,
                    timestamp=now,
                    trace_headers=trace_headers,
                    user_id=user_id,
                ),
                mandatory=mandatory,
                wait=False,
            )
        )
        for message in messages
    ]
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    return PublishResult(
        _failure(task, exchange, message.routing_key)
        for task, message in zip(tasks, messages, strict=True)
    )
