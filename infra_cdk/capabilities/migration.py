"""The schema migration as a deploy step: a custom resource backed by ``migrate``.

Its properties carry the hashes of the SQL migrations and of the code asset, so every
deploy that changes either runs ``migrate`` again (Create/Update migrate; Delete is a
no-op). The functions' ``live`` aliases depend on this resource: new code takes traffic
only after the schema is in place, and a failed migration rolls the whole stack back.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from aws_cdk import CustomResource
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra_cdk.names import FUNCTIONS_DIR, MIGRATIONS_DIR
from infra_cdk.stages import StageConfig


def tree_hash(root: str) -> str:
    """A stable hash of the files under ``root`` (names and bytes, caches skipped)."""
    digest = hashlib.sha256()
    for path in sorted(Path(root).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


class Migration(Construct):
    """Runs ``migrate`` on every deploy that changes the schema or the code."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        migrate: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=migrate,
            log_group=logs.LogGroup(
                self,
                "ProviderLogs",
                retention=config.log_retention,
                removal_policy=config.removal_policy,
            ),
        )
        self.resource = CustomResource(
            self,
            "Schema",
            service_token=self.provider.service_token,
            resource_type="Custom::ChatFlowMigration",
            properties={
                "MigrationsHash": tree_hash(str(MIGRATIONS_DIR)),
                "CodeHash": tree_hash(str(FUNCTIONS_DIR)),
            },
        )
