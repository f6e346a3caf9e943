"""Pure rules of rooms, memberships and messages: no I/O, no framework imports."""
