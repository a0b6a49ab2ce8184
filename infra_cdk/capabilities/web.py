"""Web hosting: ``web/`` in a private S3 bucket behind CloudFront, endpoints injected.

The page learns where the APIs are from ``/config.json`` (the same shape the local
stack writes: ``{"http": ..., "ws": ...}``), written at deploy time with the real URLs,
so one build of ``web/`` serves every stage. CloudFront reads the bucket through Origin
Access Control; the bucket itself is never public. Every answer carries the page's security
headers (chatflow/security/headers.py: a Content-Security-Policy that allows the page's own
scripts and styles and its two APIs, no framing, nosniff, no referrer) and HSTS, from a
response headers policy; the local stack's page server sends the same ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from chatflow.security.headers import COMMON_HEADERS, REFERRER_POLICY, page_csp
from infra_cdk.names import WEB_DIR, WEB_ENDPOINTS_FILE
from infra_cdk.stages import StageConfig

PLACEHOLDER_PAGE = (
    "<!doctype html><title>ChatFlow</title><p>The web client has not been built into web/ yet."
)


class WebHosting(Construct):
    """Bucket, access-log bucket, distribution and the deployment of the files."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        http_url: str,
        ws_url: str,
        connect_to: Sequence[str],
    ) -> None:
        """``connect_to``: the origins the page may call (the REST and WebSocket APIs)."""
        super().__init__(scope, construct_id)
        destroy = config.removal_policy == RemovalPolicy.DESTROY
        self.log_bucket = s3.Bucket(
            self,
            "Logs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            # CloudFront standard logs are delivered with ACLs.
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            removal_policy=config.removal_policy,
            auto_delete_objects=destroy,
        )
        self.bucket = s3.Bucket(
            self,
            "Site",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="s3/",
            removal_policy=config.removal_policy,
            auto_delete_objects=destroy,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Cdn",
            comment=f"ChatFlow {config.name} web client",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                response_headers_policy=self._headers_policy(config, connect_to),
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
            ),
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=self.log_bucket,
            log_file_prefix="cloudfront/",
        )
        files = (
            s3deploy.Source.asset(str(WEB_DIR))
            if WEB_DIR.is_dir()
            else s3deploy.Source.data("index.html", PLACEHOLDER_PAGE)
        )
        s3deploy.BucketDeployment(
            self,
            "Deploy",
            destination_bucket=self.bucket,
            sources=[
                files,
                s3deploy.Source.json_data(WEB_ENDPOINTS_FILE, {"http": http_url, "ws": ws_url}),
            ],
            distribution=self.distribution,
            distribution_paths=["/*"],
            prune=True,
        )

    def _headers_policy(
        self, config: StageConfig, connect_to: Sequence[str]
    ) -> cloudfront.ResponseHeadersPolicy:
        return cloudfront.ResponseHeadersPolicy(
            self,
            "Headers",
            comment=f"ChatFlow {config.name} web client security headers",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=page_csp(connect_to), override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption[COMMON_HEADERS["X-Frame-Options"]],
                    override=True,
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy[
                        REFERRER_POLICY.upper().replace("-", "_")
                    ],
                    override=True,
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365),
                    include_subdomains=True,
                    override=True,
                ),
            ),
        )

    @property
    def url(self) -> str:
        return f"https://{self.distribution.distribution_domain_name}"
