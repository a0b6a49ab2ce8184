"""bcrypt password hashing with a constant-cost path for unknown users.

Login must take the same time whether the username exists or not; otherwise response
times enumerate accounts. ``verify_or_waste`` checks a dummy hash of the same cost when
there is no stored hash, so both paths pay one bcrypt verification.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache

# bcrypt only reads the first 72 bytes; longer passwords are refused at the edge.
MAX_PASSWORD_BYTES = 72


def hash_password(password: str, rounds: int) -> str:
    import bcrypt  # only register, login and password changes need it: not the frame path

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


@lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> bytes:
    import bcrypt

    return bcrypt.hashpw(b"chatflow-dummy-password", bcrypt.gensalt(rounds))


def verify_or_waste(password: str, stored_hash: str | None, rounds: int) -> bool:
    """True when ``password`` matches; with no stored hash, spend the same time and say no."""
    import bcrypt

    if stored_hash is None:
        # Over 72 bytes bcrypt raises: refused exactly as for a stored hash below.
        with contextlib.suppress(ValueError):
            bcrypt.checkpw(password.encode(), _dummy_hash(rounds))
        return False
    try:
        return bcrypt.checkpw(password.encode(), stored_hash.encode())
    except ValueError:
        return False
