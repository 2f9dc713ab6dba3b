"""Customers: segments and their profiles (:mod:`engine.customers.segments`,
:mod:`engine.customers.profiles`, the feature table in :mod:`engine.customers.table`) and
lifetime value (:mod:`engine.customers.clv`). Import the modules themselves; this package
imports nothing, so each part loads only what it uses."""
