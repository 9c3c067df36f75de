"""What the register holds about one person, and how long it keeps it: the
answer to the right of access (GDPR art. 15) and portability (art. 20),
built from the same resolution as erasure and the same policy as the sweep,
so the two can never disagree."""
