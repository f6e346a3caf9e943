"""Shared runtime for the chat services (see the package README for the API contract)."""

__version__ = "0.3.0"
