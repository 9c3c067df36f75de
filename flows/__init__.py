"""Prefect flows: orchestration only. Nothing imports this package but the
console script and the deployments."""
