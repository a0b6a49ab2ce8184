"""The token buckets of the REST API's costly writes, built once from the settings.

Each write that costs more than a read (bcrypt, a system message fanned out to every
member, a row that lives forever) has its own bucket, so that exhausting one (say,
joining and leaving a room in a loop) does not stop the same user from posting or reading.
Buckets are per user; the password change has a second one per client address, as login
has, because it is the one write whose failure tells an attacker something (whether
``currentPassword`` was right).
"""

from __future__ import annotations

from dataclasses import dataclass

from chatflow.cache.ratelimit import BucketPolicy
from chatflow.settings import Settings


def _per_minute(name: str, burst: int, per_minute: int) -> BucketPolicy:
    return BucketPolicy(name, burst, per_minute / 60.0)


@dataclass(frozen=True, slots=True)
class WritePolicies:
    auth: BucketPolicy  # register and login, per address
    password_user: BucketPolicy
    password_address: BucketPolicy
    membership: BucketPolicy  # join, leave, add or remove a member, change a role
    edit: BucketPolicy  # edit or delete a message
    room: BucketPolicy  # create a room
    dm: BucketPolicy  # open a direct room
    ticket: BucketPolicy  # issue a WebSocket ticket

    @classmethod
    def from_settings(cls, settings: Settings) -> WritePolicies:
        s = settings
        return cls(
            auth=_per_minute("auth", s.rate_auth_burst, s.rate_auth_per_minute),
            password_user=_per_minute(
                "password-user", s.rate_password_burst, s.rate_password_per_minute
            ),
            password_address=_per_minute(
                "password-address", s.rate_password_burst, s.rate_password_per_minute
            ),
            membership=_per_minute(
                "membership", s.rate_membership_burst, s.rate_membership_per_minute
            ),
            edit=_per_minute("edit", s.rate_edit_burst, s.rate_edit_per_minute),
            room=_per_minute("room", s.rate_room_burst, s.rate_room_per_minute),
            dm=_per_minute("dm", s.rate_dm_burst, s.rate_dm_per_minute),
            ticket=_per_minute("ticket", s.rate_ticket_burst, s.rate_ticket_per_minute),
        )
