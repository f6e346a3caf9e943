"""Pure presence logic: no I/O, time passed in."""
