"""message-service: rooms, memberships, messages and read positions of the chat product."""

__version__ = "0.2.0"
