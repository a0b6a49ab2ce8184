"""cdk-nag AwsSolutions findings that ChatFlow accepts, each with its reason.

cdk-nag v3 acknowledges findings through CDK's ``Validations.of(construct).acknowledge``,
one exact finding id at a time (ids carry logical ids, e.g. ``IAM5[Resource::<Api1234>/*]``).
Rather than hard-code those ids, each accepted finding is a pattern (rule id + construct
path) with the reason it is acceptable; ``acknowledge_accepted`` runs the pack once and
acknowledges only the findings a pattern covers. Anything new stays an error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Acknowledgment, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from infra_cdk.stages import StageConfig


@dataclass(frozen=True)
class Accepted:
    """A finding ChatFlow accepts: which rule, where, and why."""

    rule: str  # regular expression, full match on the finding id
    where: str  # regular expression, searched in the construct path
    reason: str


@dataclass(frozen=True, order=True)
class Finding:
    """One unacknowledged finding: the rule id and the construct it is on."""

    rule: str
    path: str


_PARTITION = r"(?:<AWS::Partition>|aws[\w-]*)"
_REGION = r"(?:<AWS::Region>|[a-z0-9-]+)"
_ACCOUNT = r"(?:<AWS::AccountId>|\d{12})"
_MANAGED_ROLE = r"AwsSolutions-IAM4\[Policy::arn:" + _PARTITION + r":iam::aws:policy/service-role/"
_BUCKET_DEPLOYMENT = r"/Custom::CDKBucketDeployment[0-9A-F]+/"

STAGE_ACCEPTED: tuple[Accepted, ...] = (
    Accepted(
        _MANAGED_ROLE + r"AWSLambdaBasicExecutionRole\]",
        r"/(Functions/\w+|Migration/Provider/framework-onEvent|LogRetention\w+"
        r"|Custom::CDKBucketDeployment[0-9A-F]+)/ServiceRole/",
        "AWSLambdaBasicExecutionRole grants only CloudWatch Logs writes, which every function "
        "needs; an inline copy would be the same statements under another name.",
    ),
    Accepted(
        _MANAGED_ROLE + r"AWSLambdaVPCAccessExecutionRole\]",
        r"/Functions/\w+/ServiceRole/",
        "Functions in a VPC need ec2:Create/Describe/DeleteNetworkInterface, which has no "
        "resource-level scoping; this AWS-maintained policy is the documented minimum.",
    ),
    Accepted(
        _MANAGED_ROLE + r"AmazonAPIGatewayPushToCloudWatchLogs\]",
        r"/Rest/Api/CloudWatchRole/",
        "API Gateway's account-level logging role: the AWS-maintained policy is the one the "
        "service documents for access and execution logs.",
    ),
    Accepted(
        r"AwsSolutions-IAM5\[Resource::\*\]",
        r"/Functions/\w+/ServiceRole/DefaultPolicy/",
        "X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords) does not support "
        "resource-level permissions; every other statement names a concrete ARN.",
    ),
    Accepted(
        r"AwsSolutions-IAM5\[Resource::arn:"
        + _PARTITION
        + ":execute-api:"
        + _REGION
        + ":"
        + _ACCOUNT
        + r":<WebSocketApi\w+>/\w+/\*/@connections/\*\]",
        r"/Functions/\w+/ServiceRole/DefaultPolicy/",
        "execute-api:ManageConnections is scoped to this API and this stage; the connection "
        "id (and POST/GET/DELETE) are only known at run time.",
    ),
    Accepted(
        r"AwsSolutions-IAM5\[Resource::<FunctionsMigrate\w+\.Arn>:\*\]",
        r"/Migration/Provider/framework-onEvent/",
        "The custom-resource provider may invoke the migrate function's versions only "
        "(function ARN + ':*' qualifier), as the CDK provider framework requires.",
    ),
    Accepted(
        r"AwsSolutions-IAM5\[Resource::\*\]",
        r"/LogRetention\w+/ServiceRole/DefaultPolicy/",
        "CDK's log-retention helper (for the RDS log export) sets retention on a log group "
        "RDS creates later by name; logs:PutRetentionPolicy cannot be scoped ahead of it.",
    ),
    Accepted(
        r"AwsSolutions-IAM5\[(Action::s3:(GetBucket|GetObject|List|Abort|DeleteObject)\*"
        r"|Resource::\*|Resource::arn:" + _PARTITION + r":s3:::cdk-[a-z0-9]+-assets-[^/]+/\*"
        r"|Resource::<WebSite\w+\.Arn>/\*)\]",
        _BUCKET_DEPLOYMENT + r"ServiceRole/DefaultPolicy/",
        "CDK's BucketDeployment copies the web assets from the CDK asset bucket into the site "
        "bucket and invalidates CloudFront; its grants are limited to those two buckets "
        "(object keys are unknown at synth) and CreateInvalidation has no resource scoping.",
    ),
    Accepted(
        r"AwsSolutions-L1",
        _BUCKET_DEPLOYMENT.rstrip("/") + r"/Resource$",
        "BucketDeployment's handler runtime is chosen and updated by aws-cdk-lib; it runs "
        "only during deployments.",
    ),
    Accepted(
        r"AwsSolutions-EC23",
        r"/Network/Vpc/(Sqs|SecretsManager)/SecurityGroup/",
        "Interface endpoints admit HTTPS from the VPC's own CIDR (a token cdk-nag cannot "
        "resolve), never from 0.0.0.0/0.",
    ),
    Accepted(
        r"AwsSolutions-RDS11",
        r"/Database/Instance/",
        "PostgreSQL keeps its default port: the instance sits in isolated subnets, reachable "
        "only from RDS Proxy's security group; a non-default port adds no protection.",
    ),
    Accepted(
        r"AwsSolutions-SMG4",
        r"/Auth/JwtSecret/",
        "The JWT key signs access tokens that live JWT_TTL_SECONDS; rotating it logs every "
        "user out, so rotation is an operator action (docs/deploy.md), not a schedule.",
    ),
    Accepted(
        r"AwsSolutions-(APIG4|COG4)",
        r"/Rest/Api/Default/(\{proxy\+\}/)?ANY/",
        "The REST API authenticates in the application (bearer JWT, FastAPI dependencies); "
        "register, login and health are public by design. ChatFlow does not use Cognito.",
    ),
    Accepted(
        r"AwsSolutions-APIG4",
        r"/WebSocket/Api/\$(default|disconnect)-Route/",
        "API Gateway allows authorizers on $connect only; later frames of an authorized "
        "connection are checked by ws_frame (token expiry and revocation on every frame).",
    ),
    Accepted(
        r"AwsSolutions-APIG2",
        r"/Rest/Api/Resource$",
        "A proxy API: FastAPI validates every request body and parameter (RFC 9457 errors).",
    ),
    Accepted(
        r"AwsSolutions-CFR1",
        r"/Web/Cdn/",
        "ChatFlow serves its users worldwide; there is no geography to restrict.",
    ),
    Accepted(
        r"AwsSolutions-CFR2",
        r"/Web/Cdn/",
        "The distribution serves static files only; the APIs it talks to have their own WAF "
        "(CloudFront web ACLs must live in us-east-1, a separate stack).",
    ),
    Accepted(
        r"AwsSolutions-CFR4",
        r"/Web/Cdn/",
        "The default *.cloudfront.net certificate cannot pin TLS 1.2; the distribution sets "
        "TLSv1.2_2021 so a custom domain gets it the moment one is added.",
    ),
)

PIPELINE_ACCEPTED: tuple[Accepted, ...] = (
    Accepted(
        r"AwsSolutions-S1",
        r"/Pipeline/Pipeline/ArtifactsBucket/",
        "Pipeline artifacts are short-lived build outputs; CodePipeline and CloudTrail "
        "already record who read or wrote them.",
    ),
    Accepted(
        r"AwsSolutions-IAM5\[.*\]",
        r"^ChatFlow-Pipeline/Pipeline/",
        "CDK Pipelines generates these roles: wildcards are limited to the pipeline's own "
        "artifact bucket and key, its CodeBuild log groups and report groups, and the "
        "CDK bootstrap roles it assumes to deploy.",
    ),
    Accepted(
        r"AwsSolutions-CB4",
        r"^ChatFlow-Pipeline/Pipeline/",
        "CodeBuild projects of CDK Pipelines write to the pipeline's artifact bucket, which "
        "is encrypted with the pipeline's KMS key.",
    ),
)


def nag_findings(scope: IConstruct) -> list[Finding]:
    """Every AwsSolutions finding under ``scope`` not yet acknowledged."""
    report = AwsSolutionsChecks().validate_scope(scope)
    return [
        Finding(violation.rule_name, resource.construct_path or "")
        for violation in report.violations
        for resource in violation.violating_resources
    ]


def _find(root: IConstruct, path: str) -> IConstruct:
    """The construct at ``path`` (paths are relative to the app)."""
    node = root
    for part in path.split("/"):
        node = node.node.find_child(part)
    return node


def acknowledge_accepted(scope: Stack, accepted: Sequence[Accepted]) -> None:
    """Acknowledge, with its reason, each finding under ``scope`` that a pattern covers."""
    root = scope.node.root
    for finding in nag_findings(scope):
        for rule in accepted:
            if re.fullmatch(rule.rule, finding.rule) and re.search(rule.where, finding.path):
                target = _find(root, finding.path)
                Validations.of(target).acknowledge(
                    Acknowledgment(id=finding.rule, reason=rule.reason)
                )
                break


def stage_accepted(config: StageConfig) -> tuple[Accepted, ...]:
    """The stage findings, plus what a non-production stage gives up on purpose."""
    extra: list[Accepted] = []
    if not config.db_multi_az:
        extra.append(
            Accepted(
                r"AwsSolutions-RDS3",
                r"/Database/Instance/",
                f"{config.name} runs single-AZ to halve the database cost; prod is multi-AZ "
                "(infra_cdk/stages.py).",
            )
        )
    if not config.db_deletion_protection:
        extra.append(
            Accepted(
                r"AwsSolutions-RDS10",
                r"/Database/Instance/",
                f"{config.name} is disposable (cdk destroy must work); prod has deletion "
                "protection.",
            )
        )
    return STAGE_ACCEPTED + tuple(extra)


def suppress_stack_findings(stack: Stack, config: StageConfig) -> None:
    """Acknowledge the accepted findings of a ChatFlow stage stack."""
    acknowledge_accepted(stack, stage_accepted(config))


def suppress_pipeline_findings(stack: Stack) -> None:
    """Acknowledge the accepted findings of the pipeline stack."""
    acknowledge_accepted(stack, PIPELINE_ACCEPTED)
