"""Persistence of message-service: SQLAlchemy Core with bound parameters only.

Every query takes the caller's AsyncSession, so the caller decides the transaction (one per
REST request, one per command batch) and the outbox rows land in the same one.

| module | holds |
|---|---|
| `tables` | the tables (the outbox included) and row -> domain value mapping |
| `room_queries` | rooms: insert, look up, the views of one user |
| `membership_queries` | memberships and read positions |
| `message_writes` | the send path: lock rooms, find repeats, write a batch in one statement |
| `message_reads` | history pages |
| `user_directory` | the local user directory fed by `auth.user.registered.v1` / `.updated.v1` |
| `blocks` | the projection of `auth.block.changed.v1` (the `mention_count` filter reads it too) |
| `files` | the `files` projection of `file.uploaded.v1`, entries' attachments, file access |
| `unit_of_work` | one transaction, whose events go to the relay after commit |
"""

from message_service.store.tables import outbox
from message_service.store.unit_of_work import Notifier, UnitOfWork

__all__ = ["Notifier", "UnitOfWork", "outbox"]
