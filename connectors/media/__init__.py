"""What both media connectors share (facts, their evaluation, keys, the
inventory), and the local folder connector."""
