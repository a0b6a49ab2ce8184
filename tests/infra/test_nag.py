"""cdk-nag AwsSolutions: nothing unacknowledged, and every acknowledgment has a reason."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ec2 as ec2

from infra_cdk.nag import PIPELINE_ACCEPTED, STAGE_ACCEPTED, nag_findings, stage_accepted
from infra_cdk.stages import STAGES
from tests.infra.conftest import Synthesized


@pytest.mark.parametrize("stage", ["dev", "staging", "prod", "pipeline"])
def test_no_unacknowledged_findings(synthesized: Synthesized, stage: str) -> None:
    assert nag_findings(synthesized.stacks[stage]) == []


def test_every_accepted_finding_has_a_reason() -> None:
    accepted = PIPELINE_ACCEPTED + tuple(
        rule for config in STAGES.values() for rule in stage_accepted(config)
    )
    for rule in accepted:
        assert len(rule.reason) >= 40, rule
        assert rule.rule.startswith("AwsSolutions-")


def test_production_accepts_neither_single_az_nor_unprotected_database() -> None:
    prod_rules = {rule.rule for rule in stage_accepted(STAGES["prod"])}
    dev_rules = {rule.rule for rule in stage_accepted(STAGES["dev"])}
    assert {"AwsSolutions-RDS3", "AwsSolutions-RDS10"}.isdisjoint(prod_rules)
    assert {"AwsSolutions-RDS3", "AwsSolutions-RDS10"} <= dev_rules
    assert len(STAGE_ACCEPTED) < len(stage_accepted(STAGES["dev"]))


def test_a_new_finding_is_reported() -> None:
    stack = Stack(App(), "Probe")
    group = ec2.SecurityGroup(stack, "Open", vpc=ec2.Vpc(stack, "Vpc", nat_gateways=0))
    group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(22))
    assert any(f.rule == "AwsSolutions-EC23" for f in nag_findings(stack))
