"""Bus side of presence-service.

Every replica consumes every signal (its own exclusive queue, `signals`) and keeps the full state;
only the replica holding the advisory lock (`leader`) publishes `presence.changed.v1`
(`change_publisher`) and writes the announced table (`announced_writer`), so each change is
announced once.
"""
