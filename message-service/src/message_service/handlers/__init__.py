"""Broker handlers of message-service, one module per queue or event family.

| module | queue | type |
|---|---|---|
| `send` | `message-service.send.<n>` (all shards, one batch) | `message.send.v1` |
| `read` | `message-service.read.<n>` | `room.read.v1` |
| `users` | `message-service.events` | `auth.user.registered.v1`, `auth.user.updated.v1` |
| `blocks` | `message-service.events` | `auth.block.changed.v1` |
| `membership` | `message-service.query` (request/reply) | `membership.query.v1` |

Each is a plain function of its dependencies (`deps.BusDeps`); the composition root binds them
with functools.partial and hands them to the runtime's consumer runner, which validates bodies,
acks after a handler returns, requeues when it raises and holds deliveries while it raises
InfrastructureError.
"""
