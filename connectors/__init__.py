"""Connectors: one module per kind of system. No Prefect in here."""
