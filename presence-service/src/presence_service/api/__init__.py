"""HTTP routes of presence-service."""
