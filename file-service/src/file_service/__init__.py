"""file-service: uploads, images and downloads (api-v1.1 E)."""

__version__ = "0.3.0"
