"""The write throttles raised, for stacks that measure something other than throttling.

The limits themselves are tested at integration level (tests/integration/test_throttles.py);
everywhere else — the test suites' stacks and handlers, the benchmarks' stacks — a run that
creates many rooms, joins, edits or asks for many tickets must not start failing with 429
because of them.
"""

from __future__ import annotations

# The settings of functions/chatflow/cache/policies.py, per user (the password one also per
# address); RATE_AUTH_* and RATE_SEND_* are raised where each suite already raised them.
WRITE_LIMITS = ("password", "membership", "edit", "room", "dm", "ticket")


def raised_write_limits(value: int = 100_000) -> dict[str, int]:
    """``rate_<write>_burst`` and ``rate_<write>_per_minute`` of every write, as settings."""
    raised: dict[str, int] = {}
    for write in WRITE_LIMITS:
        raised[f"rate_{write}_burst"] = value
        raised[f"rate_{write}_per_minute"] = value
    return raised


def raised_write_limits_env(value: int = 100_000) -> dict[str, str]:
    """The same as environment variables, for a stack or a handler started in a test."""
    return {name.upper(): str(v) for name, v in raised_write_limits(value).items()}
