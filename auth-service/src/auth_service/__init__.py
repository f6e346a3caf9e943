"""auth-service: users, passwords, sessions, refresh tokens and access-token signing keys."""

__version__ = "0.3.0"
