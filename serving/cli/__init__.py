"""The `genlift` command line: one module per command group, each parsing its flags and
printing what a job in :mod:`serving.jobs` returns (:mod:`serving.cli.main` wires them
up; ``python -m serving.cli`` runs it)."""
