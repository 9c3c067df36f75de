"""The SQL connector (SQLite, PostgreSQL, MariaDB through SQLAlchemy Core):
`connector.py` is its face; the other modules are one idea each (relations,
holds, deletes, anonymisation, subject search, preflight)."""
