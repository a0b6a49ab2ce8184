"""One settings model per process, validated once at init (README.md, "Settings").

A missing or invalid setting must fail the cold start loudly and name itself,
so misconfiguration shows at deploy time rather than at the first message.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PositiveInt = Annotated[int, Field(gt=0)]


class SettingsError(RuntimeError):
    """Raised at init when the environment does not describe a valid deployment."""


class Settings(BaseSettings):
    """Every environment variable ChatFlow reads, with its default and its rule."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    database_url: str = Field(min_length=1)
    database_iam_auth: bool = False
    redis_url: str = Field(min_length=1)
    redis_cluster: bool = False
    connections_table: str = ""
    ws_management_endpoint: str = ""
    ws_connections_client: Literal["lean", "botocore"] = "lean"
    aws_endpoint_url: str = ""
    aws_region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    jwt_secret: SecretStr | None = None
    jwt_secret_arn: str = ""
    jwt_issuer: str = "chatflow"
    jwt_audience: str = "chatflow-api"
    jwt_ttl_seconds: PositiveInt = 86400
    ws_ticket_ttl_seconds: Annotated[int, Field(gt=0, le=60)] = 60
    presence_ttl_seconds: PositiveInt = 60
    heartbeat_ms: PositiveInt = 20000
    max_message_chars: PositiveInt = 4000
    bcrypt_rounds: Annotated[int, Field(ge=4, le=16)] = 12
    fanout_inline_max: PositiveInt = 1000
    # posts in flight from one invocation (keep-alive connections; Lambda allows 1,024
    # file descriptors): docs/benchmarks.md "Fan-out"
    fanout_connections: Annotated[int, Field(ge=1, le=900)] = 256
    fanout_queue_url: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    db_pool_max: Annotated[int, Field(ge=0)] = 0
    rate_auth_burst: PositiveInt = 10
    rate_auth_per_minute: PositiveInt = 10
    rate_send_burst: PositiveInt = 30
    rate_send_per_second: PositiveInt = 10
    # Costly writes, per user (README, "Settings"; 429 with Retry-After); the password change also
    # per client address, like login.
    rate_password_burst: PositiveInt = 5
    rate_password_per_minute: PositiveInt = 1
    rate_membership_burst: PositiveInt = 20
    rate_membership_per_minute: PositiveInt = 20
    rate_edit_burst: PositiveInt = 30
    rate_edit_per_minute: PositiveInt = 60
    rate_room_burst: PositiveInt = 10
    rate_room_per_minute: PositiveInt = 2
    rate_dm_burst: PositiveInt = 20
    rate_dm_per_minute: PositiveInt = 10
    rate_ticket_burst: PositiveInt = 20
    rate_ticket_per_minute: PositiveInt = 20
    max_request_bytes: PositiveInt = 65536
    cors_allow_origins: str = ""  # comma-separated origins allowed to call the REST API
    replay_max: Annotated[int, Field(ge=1, le=1000)] = 100
    # caps of one socket and of one user (docs/protocol.md, "Caps")
    max_subscriptions_per_connection: Annotated[int, Field(ge=3, le=10_000)] = 100
    max_connections_per_user: Annotated[int, Field(ge=1, le=10_000)] = 20

    @model_validator(mode="after")
    def _one_secret_source(self) -> Settings:
        """Exactly one of JWT_SECRET and JWT_SECRET_ARN, and a secret long enough for HS256."""
        if self.jwt_secret is None and not self.jwt_secret_arn:
            raise ValueError("JWT_SECRET or JWT_SECRET_ARN must be set")
        if self.jwt_secret is not None and self.jwt_secret_arn:
            raise ValueError("set JWT_SECRET or JWT_SECRET_ARN, not both")
        if self.jwt_secret is not None and len(self.jwt_secret.get_secret_value()) < 32:
            raise ValueError("JWT_SECRET must be at least 32 characters (HS256 key strength)")
        return self


def load_settings() -> Settings:
    """Read and validate the environment; the error names every bad variable."""
    try:
        return Settings()  # type: ignore[call-arg]  # values come from the environment
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "_".join(str(part) for part in err["loc"]).upper() or "settings"
            problems.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once per Lambda container."""
    return load_settings()
