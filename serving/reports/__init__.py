"""Self-contained HTML reports (inline PNG plots, plain tables): lift experiments,
strategy backtests, inventory plans and generator quality.

A report takes the numbers it shows as arguments and writes one page; it never runs a
job and never imports :mod:`serving.jobs` or :mod:`serving.cli`.
"""
