"""The web page's security headers on AWS: CloudFront's response headers policy."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from tests.infra.conftest import as_json, resources


def _policy(template: Template) -> tuple[str, dict[str, Any]]:
    (found,) = resources(template, "AWS::CloudFront::ResponseHeadersPolicy").items()
    logical_id, resource = found
    config: dict[str, Any] = resource["Properties"]["ResponseHeadersPolicyConfig"]
    return logical_id, config["SecurityHeadersConfig"]


def test_the_page_gets_a_csp_nosniff_no_referrer_no_framing_and_hsts(dev: Template) -> None:
    _, headers = _policy(dev)
    csp = as_json(headers["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    for directive in (
        "default-src 'none'",
        "script-src 'self';",
        "style-src 'self';",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ):
        assert directive in csp, directive
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    # connect-src names the REST API's and the WebSocket API's origins (deploy-time ids)
    assert "connect-src 'self' https://" in csp and " wss://" in csp
    assert as_json(headers).count(".execute-api.") == 2
    assert headers["ContentSecurityPolicy"]["Override"] is True
    assert headers["ContentTypeOptions"] == {"Override": True}
    assert headers["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert headers["ReferrerPolicy"] == {"ReferrerPolicy": "no-referrer", "Override": True}
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000


def test_the_distribution_uses_that_policy(dev: Template, prod: Template) -> None:
    for template in (dev, prod):
        logical_id, _ = _policy(template)
        (distribution,) = resources(template, "AWS::CloudFront::Distribution").values()
        behavior = distribution["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
        assert behavior["ResponseHeadersPolicyId"] == {"Ref": logical_id}
