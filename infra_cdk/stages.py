"""Stage-aware settings (dev, staging, prod) in one place.

Every size, retention, removal policy and alarm target that differs between stages is a
field here; constructs read the ``StageConfig`` they are given and hold no stage logic
of their own. The context key ``alarmEmail:<stage>`` (``cdk -c``) sets a stage's alarm e-mail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs


@dataclass(frozen=True)
class StageConfig:
    """What one deployment stage gets."""

    name: str
    # Network
    nat_gateways: int
    # Database
    db_instance_type: str
    db_multi_az: bool
    db_storage_gib: int
    db_max_storage_gib: int
    db_backup_days: int
    db_deletion_protection: bool
    # Cache (ElastiCache Serverless limits)
    cache_max_data_gb: int
    cache_max_ecpu_per_second: int
    cache_snapshot_days: int
    # Functions
    function_memory_mb: int
    log_level: str
    log_retention: logs.RetentionDays
    # Data lifetime: what `cdk destroy` does to stateful resources (tables, queues, logs,
    # buckets: RETAIN or DESTROY) and to the database (which may also end in a SNAPSHOT).
    removal_policy: RemovalPolicy
    db_removal_policy: RemovalPolicy
    # Throttling (requests per second / burst)
    rest_rate_limit: int
    rest_burst_limit: int
    ws_rate_limit: int
    ws_burst_limit: int
    waf_requests_per_5min_per_ip: int
    # Application settings (README.md, "Settings")
    jwt_ttl_seconds: int = 86400
    presence_ttl_seconds: int = 60
    fanout_inline_max: int = 200
    # Alarms
    alarm_email: str | None = None
    latency_p99_ms: int = 1500
    errors_per_5min: int = 1

    @property
    def is_production(self) -> bool:
        return self.name == "prod"


STAGES: Mapping[str, StageConfig] = {
    "dev": StageConfig(
        name="dev",
        nat_gateways=1,
        db_instance_type="t4g.micro",
        db_multi_az=False,
        db_storage_gib=20,
        db_max_storage_gib=50,
        db_backup_days=1,
        db_deletion_protection=False,
        cache_max_data_gb=1,
        cache_max_ecpu_per_second=5000,
        cache_snapshot_days=0,
        function_memory_mb=512,
        log_level="DEBUG",
        log_retention=logs.RetentionDays.ONE_WEEK,
        removal_policy=RemovalPolicy.DESTROY,
        db_removal_policy=RemovalPolicy.DESTROY,
        rest_rate_limit=50,
        rest_burst_limit=100,
        ws_rate_limit=50,
        ws_burst_limit=100,
        waf_requests_per_5min_per_ip=1000,
        latency_p99_ms=3000,
        errors_per_5min=5,
    ),
    "staging": StageConfig(
        name="staging",
        nat_gateways=1,
        db_instance_type="t4g.small",
        db_multi_az=False,
        db_storage_gib=20,
        db_max_storage_gib=100,
        db_backup_days=7,
        db_deletion_protection=False,
        cache_max_data_gb=2,
        cache_max_ecpu_per_second=10000,
        cache_snapshot_days=1,
        function_memory_mb=512,
        log_level="INFO",
        log_retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.DESTROY,
        db_removal_policy=RemovalPolicy.SNAPSHOT,
        rest_rate_limit=200,
        rest_burst_limit=400,
        ws_rate_limit=200,
        ws_burst_limit=400,
        waf_requests_per_5min_per_ip=2000,
    ),
    "prod": StageConfig(
        name="prod",
        nat_gateways=2,
        db_instance_type="r7g.large",
        db_multi_az=True,
        db_storage_gib=100,
        db_max_storage_gib=1000,
        db_backup_days=30,
        db_deletion_protection=True,
        cache_max_data_gb=10,
        cache_max_ecpu_per_second=100000,
        cache_snapshot_days=7,
        function_memory_mb=1024,
        log_level="INFO",
        log_retention=logs.RetentionDays.THREE_MONTHS,
        removal_policy=RemovalPolicy.RETAIN,
        db_removal_policy=RemovalPolicy.SNAPSHOT,
        rest_rate_limit=2000,
        rest_burst_limit=5000,
        ws_rate_limit=2000,
        ws_burst_limit=5000,
        waf_requests_per_5min_per_ip=5000,
        latency_p99_ms=1000,
    ),
}


def stage_config(name: str, alarm_email: object = None) -> StageConfig:
    """The settings of stage ``name``; ``alarm_email`` (context ``alarmEmail:<stage>``) wins."""
    try:
        config = STAGES[name]
    except KeyError:
        raise ValueError(f"unknown stage {name!r}; choose one of {sorted(STAGES)}") from None
    if isinstance(alarm_email, str) and alarm_email:
        config = replace(config, alarm_email=alarm_email)
    return config
