"""The service host: one composition for every service (docs/architecture.md, "Service host").

A service's `bootstrap.py` declares settings, database, routes, consumers, responders and hooks;
the host owns the broker connection and its retry policy, the topology, the outbox relay, the
revocation set, readiness and shutdown."""

from chat_runtime.host.context import HostContext
from chat_runtime.host.process import serve
from chat_runtime.host.service_host import ServiceHost
from chat_runtime.host.spec import BusTable, Consumer, Database, Responder

__all__ = ["BusTable", "Consumer", "Database", "HostContext", "Responder", "ServiceHost", "serve"]
