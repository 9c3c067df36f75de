"""Connect to every system a policy describes and check that it fits,
changing nothing: `retention check --connect`. A run does the same for each
system it opens (every connector's check()), so a misfit stops it before
anything changes."""

from __future__ import annotations

from connectors.registry import open_connector
from retention.errors import ConnectionFailed, PolicyError, PolicyMismatch, RetentionError
from retention.policy_loader import LoadedPolicy
from tasks.setup import aws_session


def check_systems(loaded: LoadedPolicy) -> None:
    """PolicyError naming the file and every misfit in every system;
    ConnectionFailed as it is (the system, not the policy, is wrong)."""
    problems: list[tuple[str, str]] = []
    for name, system in loaded.policy.systems.items():
        connector = open_connector(name, loaded, session=aws_session(name, system))
        try:
            connector.check()
        except PolicyMismatch as exc:
            problems += exc.problems
        except ConnectionFailed:
            raise
        except RetentionError as exc:
            # Found after the column checks (a foreign-key cycle, a composite
            # key): the system as a whole is the place.
            problems.append((f"systems.{name}", str(exc)))
        finally:
            connector.close()
    if problems:
        raise PolicyError(
            loaded.path, problems, "the policy does not fit its systems; nothing was changed"
        )
