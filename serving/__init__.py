"""The user-facing layer, in four rooms: :mod:`serving.cli` (the `genlift` command: parse
and print) -> :mod:`serving.jobs` (what each command does, callable from Python) ->
:mod:`serving.reports` (HTML); :mod:`serving.api` (the HTTP API) -> :mod:`serving.jobs`."""
