"""retention-pipeline: the domain (policy, anonymisation, ledger). No Prefect, no boto3."""
