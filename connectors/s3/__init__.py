"""The S3 media connector (boto3): `connector.py` is its face; the others
list versions, read facts, erase every version and write the ledger segment
to an Object Lock bucket."""
