"""Routes of the service, one module per endpoint family."""
