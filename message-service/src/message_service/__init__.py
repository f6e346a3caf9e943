"""message-service: rooms, memberships, messages and read positions of the chat product."""

__version__ = "0.3.0"
