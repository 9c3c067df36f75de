"""What the policy misses: tables, columns and media prefixes no dataset
declares, and which of them look personal (retention coverage)."""
