"""Deploying retention-pipeline: the deploy step and `make serve` (scripts)."""
