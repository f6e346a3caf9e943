"""The REST routes of file-service (thin: the use cases are in uploads.py and downloads.py)."""
