"""What each `genlift` command does, callable from Python with plain arguments or a
config dataclass (never an argparse namespace): one module per command group.

Jobs take an open :class:`~features.store.Store` where they read or record runs, write
their outputs atomically and return a JSON-able summary. They may use
:mod:`serving.reports`; they never import :mod:`serving.cli`.
"""
