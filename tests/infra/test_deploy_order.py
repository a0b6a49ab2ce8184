"""The migration runs on deploy before new code takes traffic."""

from __future__ import annotations

from aws_cdk.assertions import Template

from infra_cdk.names import FUNCTIONS
from tests.infra.conftest import as_json, resources


def _migration(template: Template) -> str:
    (logical,) = resources(template, "Custom::ChatFlowMigration")
    return str(logical)


def test_migration_custom_resource_is_backed_by_migrate(dev: Template) -> None:
    body = resources(dev, "Custom::ChatFlowMigration")[_migration(dev)]
    assert set(body["Properties"]) >= {"ServiceToken", "MigrationsHash", "CodeHash"}
    assert "MigrationProviderframeworkonEvent" in as_json(body["Properties"]["ServiceToken"])


def test_every_live_alias_waits_for_the_migration(dev: Template) -> None:
    migration = _migration(dev)
    aliases = resources(dev, "AWS::Lambda::Alias")
    assert len(aliases) == len(FUNCTIONS) - 1  # migrate itself is invoked by the provider
    for logical, body in aliases.items():
        assert body["Properties"]["Name"] == "live"
        assert migration in body.get("DependsOn", []), logical


def test_api_stages_wait_for_the_migration(dev: Template) -> None:
    migration = _migration(dev)
    for type_name in ("AWS::ApiGatewayV2::Stage", "AWS::ApiGateway::Stage"):
        (stage,) = resources(dev, type_name).values()
        assert migration in stage.get("DependsOn", []), type_name
