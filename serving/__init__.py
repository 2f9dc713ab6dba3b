"""The user-facing layer: the `genlift` CLI, batch jobs, the HTTP API and reports."""
