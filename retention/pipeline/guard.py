"""Guard: a plan over its limits waits for an operator; nothing mass-deletes
silently."""

from __future__ import annotations

from retention.pipeline.plan import RulePlan
from retention.policy import Limits


def over_limits(plan: RulePlan, limits: Limits) -> str | None:
    """Why this plan needs an approval, or None when it is within limits."""
    reasons = []
    # Held records a rule anonymises are changes too: they count like due ones.
    if plan.to_change > limits.max_count:
        reasons.append(f"{plan.to_change} records to change exceed max_count {limits.max_count}")
    if plan.dataset_rows and plan.share > limits.max_share:
        reasons.append(
            f"{plan.share:.0%} of {plan.qualified} exceeds max_share {limits.max_share:.0%}"
        )
    return "; ".join(reasons) or None
