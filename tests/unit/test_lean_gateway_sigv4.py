"""The lean client's SigV4 signature is botocore's, byte for byte, at a fixed clock."""

from __future__ import annotations

import calendar
import datetime
from typing import Any

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest, AWSResponse, HTTPHeaders

from chatflow.ws.lean_gateway import (
    Credentials,
    SigV4Signer,
    connection_path,
    env_credentials,
)

pytestmark = pytest.mark.unit

NOW = datetime.datetime(2026, 11, 26, 23, 59, 58, tzinfo=datetime.UTC)
EPOCH = float(calendar.timegm(NOW.timetuple()))
KEY = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SESSION = Credentials(
    "ASIAEXAMPLE", "secret/with+chars=", "IQoJb3JpZ2luX2VjE//////////wEaCXVzLWVhc3QtMSJHMEUCIQ="
)
HOSTS = ("abc123.execute-api.eu-west-1.amazonaws.com", "127.0.0.1:3001")


def _botocore_authorization(
    credentials: Credentials,
    region: str,
    method: str,
    url: str,
    body: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest(method=method, url=url, data=body)
    creds = botocore.credentials.Credentials(
        credentials.access_key, credentials.secret_key, credentials.token
    )
    botocore.auth.SigV4Auth(creds, "execute-api", region).add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize("credentials", [KEY, SESSION], ids=["key", "session-token"])
@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize(
    ("method", "base", "cid", "body"),
    [
        ("POST", "/prod", "L0SM9cOFvHcCIhw=", b"MESSAGE\ndestination:/topic/x\n\nhi\x00"),
        ("POST", "", "abc-_.~DEF", b"\x00" * 3 + "é".encode()),
        ("POST", "/stage/with space", "a+b/c=", b""),
        ("GET", "/prod", "L0SM9cOFvHcCIhw=", b""),
        ("DELETE", "/v1", "Zz09Zz09", b""),
        ("POST", "/st!age(1)", "id with spaces/é", b"{}"),
    ],
)
def test_signature_equals_botocore_sigv4auth(
    credentials: Credentials,
    host: str,
    method: str,
    base: str,
    cid: str,
    body: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base_path = base.replace(" ", "%20")  # as it would stand in WS_MANAGEMENT_ENDPOINT
    path = connection_path(base_path, cid)
    scheme = "http" if host.startswith("127.") else "https"
    expected = _botocore_authorization(
        credentials, "eu-west-1", method, f"{scheme}://{host}{path}", body, monkeypatch
    )
    ours = dict(SigV4Signer("eu-west-1").headers(method, host, path, body, credentials, EPOCH))
    assert ours["Authorization"] == expected["Authorization"]
    assert ours["X-Amz-Date"] == expected["X-Amz-Date"] == "20261126T235958Z"
    assert ours.get("X-Amz-Security-Token") == expected.get("X-Amz-Security-Token")
    assert ours["Host"] == host


def test_known_answer_of_the_aws_test_suite_get_vanilla() -> None:
    """AWS's SigV4 test suite, case get-vanilla: GET / on example.amazonaws.com."""
    signer = SigV4Signer("us-east-1", service="service")
    at = float(calendar.timegm((2015, 8, 30, 12, 36, 0, 0, 0, 0)))
    headers = dict(signer.headers("GET", "example.amazonaws.com", "/", b"", KEY, at))
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


class _EmptyBody:
    """The raw body of a canned response, so that nothing leaves the process."""

    def stream(self, **_: Any) -> list[bytes]:
        return []


def test_path_is_the_one_the_botocore_client_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real apigatewaymanagementapi client's URL: same path, and `=` as %3D."""
    import boto3

    sent: list[str] = []

    def capture(request: AWSRequest, **_: Any) -> Any:
        sent.append(str(request.url))
        return AWSResponse(sent[-1], 200, HTTPHeaders(), _EmptyBody())

    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url="https://abc123.execute-api.eu-west-1.amazonaws.com/prod",
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )
    client.meta.events.register("before-send", capture)
    ids = ["L0SM9cOFvHcCIhw=", "a+b/c==", "plain-id_1.~", "with space&é"]
    for cid in ids:
        client.post_to_connection(ConnectionId=cid, Data=b"x")
    assert [url.split(".com", 1)[1] for url in sent] == [connection_path("/prod", c) for c in ids]
    assert connection_path("/prod", "L0SM9cOFvHcCIhw=") == "/prod/@connections/L0SM9cOFvHcCIhw%3D"


def test_signing_key_is_derived_once_a_day() -> None:
    signer = SigV4Signer("us-east-1")
    first = signer.signing_key("s", "20261126")
    assert signer.signing_key("s", "20261126") is first
    assert signer.signing_key("s", "20261127") != first
    assert signer.signing_key("t", "20261127") != signer.signing_key("s", "20261127")


def test_credentials_from_the_lambda_environment() -> None:
    env = {"AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S", "AWS_SESSION_TOKEN": "T"}
    assert env_credentials(env) == Credentials("A", "S", "T")
    assert env_credentials({**env, "AWS_SESSION_TOKEN": ""}) == Credentials("A", "S", None)
    assert env_credentials({"AWS_ACCESS_KEY_ID": "A"}) is None
    assert KEY.secret_key not in repr(KEY)
    assert SESSION.token is not None and SESSION.token not in repr(SESSION)


@pytest.mark.parametrize("credentials", [KEY, SESSION], ids=["key", "session-token"])
@pytest.mark.parametrize("host", ["dynamodb.eu-west-1.amazonaws.com", "127.0.0.1:8000"])
def test_dynamodb_signature_with_its_headers_equals_botocore(
    credentials: Credentials, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lean Query signs Content-Type and X-Amz-Target too, as botocore does."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    body = b'{"TableName":"t","KeyConditionExpression":"pk = :pk"}'
    extra = (
        ("Content-Type", "application/x-amz-json-1.0"),
        ("X-Amz-Target", "DynamoDB_20120810.Query"),
    )
    scheme = "http" if host.startswith("127.") else "https"
    request = AWSRequest(method="POST", url=f"{scheme}://{host}/", data=body, headers=dict(extra))
    creds = botocore.credentials.Credentials(
        credentials.access_key, credentials.secret_key, credentials.token
    )
    botocore.auth.SigV4Auth(creds, "dynamodb", "eu-west-1").add_auth(request)
    signer = SigV4Signer("eu-west-1", "dynamodb")
    ours = dict(signer.headers("POST", host, "/", body, credentials, EPOCH, extra))
    assert ours["Authorization"] == request.headers["Authorization"]
    assert "content-type;host;x-amz-date" in ours["Authorization"]
