"""Prefect tasks: thin wrappers over retention.pipeline and the connectors."""
