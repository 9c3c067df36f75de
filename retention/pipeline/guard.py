"""Guard: a plan over its limits waits for an operator; nothing mass-deletes
silently."""

from __future__ import annotations

from retention.pipeline.plan import RulePlan
from retention.policy import Limits


def over_limits(plan: RulePlan, limits: Limits) -> str | None:
    """Why this plan needs an approval, or None when it is within limits."""
    reasons = []
    if len(plan.due) > limits.max_count:
        reasons.append(f"{len(plan.due)} due records exceed max_count {limits.max_count}")
    if plan.dataset_rows and plan.share > limits.max_share:
        reasons.append(
            f"{plan.share:.0%} of {plan.qualified} exceeds max_share {limits.max_share:.0%}"
        )
    return "; ".join(reasons) or None
