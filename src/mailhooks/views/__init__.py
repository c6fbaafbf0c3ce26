"""Read models over the store: what the API, the CLI, exports (and later pages) show."""
