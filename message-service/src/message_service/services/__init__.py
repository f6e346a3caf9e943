"""Use cases of message-service, each run inside the caller's transaction.

The REST routes and the bus handlers both call these, so a message sent over REST and one sent
over the WebSocket go through the same dedup, membership, text and seq rules, and every change is
committed together with the events it owes (transactional outbox).

| module | use cases |
|---|---|
| `sending` | send a batch of commands (the consumer) or one message (REST) |
| `rooms` | create, show, join / invite, leave, list members, notify levels |
| `room_admin` | rename, topic, archive, remove a member, room roles (api-v1.1 C) |
| `direct_rooms` | the one direct room of a set of users (a pair or a group of 3-9) |
| `reading` | history and read positions |
| `directory` | the local user directory |
| `access` | who may see a room (shared by the above) |
| `events` | the events each change owes, written to the outbox |
"""
