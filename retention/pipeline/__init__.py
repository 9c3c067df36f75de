"""The steps of a run as plain functions: plan, guard, apply, recover,
summarise. Prefect tasks wrap them; a library user or a test can call them
directly. They see systems only through the Connector protocol."""
