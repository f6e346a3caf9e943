"""Pure rules of file-service: content sniffing, images, byte ranges, response headers."""
