"""Run, test and deploy tooling for the chat product (not shipped in any service image)."""

__version__ = "0.3.0"
