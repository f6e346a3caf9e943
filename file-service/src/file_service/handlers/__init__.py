"""Bus handlers of file-service, one module per event family."""
