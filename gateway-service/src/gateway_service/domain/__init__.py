"""Pure gateway logic: no I/O, no asyncio, no broker; every function is deterministic."""
