"""presence-service: who is online, away or offline, and when they were last seen."""

__version__ = "0.3.0"
