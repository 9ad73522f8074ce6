"""Names and labels of what a stack creates: one place, so the reaper and the policy checks agree.

GCP limits: service account ids 6-30 chars, GKE cluster and node pool names <= 40, TPU node ids <= 63,
label values <= 63 of [a-z0-9_-]. Long stack names are shortened with a stable hash suffix so two stacks
never collide and a name never changes between `pulumi up`s.
"""

from __future__ import annotations

import hashlib
import re

from . import k8s_keys


def slug(text: str, limit: int) -> str:
    """Lowercase [a-z0-9-], starting with a letter, at most ``limit`` chars, stable for the same text."""
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"
    if not s[0].isalpha():
        s = "s" + s
    if len(s) <= limit:
        return s
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{s[: limit - 7].rstrip('-')}-{digest}"


def resource_name(stack: str, suffix: str = "", limit: int = 40) -> str:
    """``tps-<stack>[-suffix]`` within ``limit`` characters (GKE cluster/pool, TPU VM names)."""
    tail = f"-{suffix}" if suffix else ""
    return slug(f"tps-{stack}", limit - len(tail)) + tail


def account_id(stack: str, role: str) -> str:
    """Service account id (6-30 chars) for one role of a stack: tps-<stack>-<role>."""
    return resource_name(stack, role, limit=30)


def label_value(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower())[:63]


def stack_labels(stack: str, user: dict[str, str], keep: bool) -> dict[str, str]:
    """Labels on every billable resource; the expiry label is added from the stack's Offset (see Lifecycle)."""
    return {**user, k8s_keys.LABEL_STACK: label_value(stack), k8s_keys.LABEL_KEEP: "true" if keep else "false",
            "managed-by": "tpustack"}
