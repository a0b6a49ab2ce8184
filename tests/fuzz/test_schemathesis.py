"""Schemathesis against the REST app's own OpenAPI document, in process (ASGI).

Every operation is called with generated requests, valid and invalid (positive and
negative generation), as a registered user: no response may be a 5xx, and every
response must be declared for its operation, with the declared content type and a body
that matches the declared schema. A state machine then chains operations through the
OpenAPI links of the document (create a room, then read, change, join and post to it),
which reaches the paths random identifiers never find.

Examples per operation are bounded so the module stays within about two minutes; the
``campaign`` profile runs many more (``docs/reliability.md``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok
from schemathesis.schemas import BaseSchema

from chatflow.api.app import create_app
from chatflow.container import Container
from tests.conftest import TABLES

pytestmark = pytest.mark.integration

AnyCase = Case[Any]

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
EXAMPLES_PER_OPERATION = 25
STATEFUL_SCENARIOS = 80
PASSWORD = "correct horse battery"


def _examples(default: int) -> int:
    if settings.get_current_profile_name() == "default":
        return default
    return max(default, settings().max_examples // 100)


class Tokens:
    """Fresh access tokens for one user: logout and password changes revoke them, so a
    call that can end a session gets a token of its own."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self.token = self._register()

    def _register(self) -> str:
        return self._container.accounts.register("fuzzer", PASSWORD, "Fuzzer").token.token

    def start_over(self) -> None:
        """Empty tables and cache, then the same user again: a scenario that is replayed
        (to shrink it) must meet the state it met the first time."""
        with self._container.db.connection() as conn:
            conn.execute(f"TRUNCATE {TABLES} CASCADE")
        self._container.cache.flushdb()
        self.token = self._register()

    def fresh(self) -> str:
        return self._container.accounts.login("fuzzer", PASSWORD).token.token

    def headers_for(self, case: AnyCase) -> dict[str, str]:
        path = case.operation.path
        ends_session = path.endswith(("/auth/logout", "/users/me/password"))
        return {"Authorization": f"Bearer {self.fresh() if ends_session else self.token}"}


def _cases() -> list[tuple[str, GenerationMode]]:
    """Every operation of the document (building it needs no services), with valid
    inputs, and with invalid ones where the operation takes any input at all."""
    document = create_app(lambda: None).openapi()  # type: ignore[arg-type,return-value]
    offline = schemathesis.openapi.from_dict(document)
    cases = []
    for result in offline.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        cases.append((operation.label, GenerationMode.POSITIVE))
        inputs = (operation.path_parameters, operation.query, operation.headers, operation.body)
        if any(len(group) for group in inputs):
            cases.append((operation.label, GenerationMode.NEGATIVE))
    return sorted(cases)


@pytest.fixture
def api_schema(container: Container) -> BaseSchema:
    return schemathesis.openapi.from_asgi("/api/openapi.json", create_app(lambda: container))


@pytest.fixture
def tokens(container: Container) -> Tokens:
    return Tokens(container)


FUZZ_SETTINGS = settings(
    max_examples=_examples(EXAMPLES_PER_OPERATION),
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize(("label", "mode"), _cases())
def test_every_operation_conforms(
    api_schema: BaseSchema, tokens: Tokens, label: str, mode: GenerationMode
) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None

    @FUZZ_SETTINGS
    @given(operation.as_strategy(generation_mode=mode))
    def call(case: AnyCase) -> None:
        case.call_and_validate(headers=tokens.headers_for(case), checks=CHECKS)

    call()


def test_linked_operations_conform(api_schema: BaseSchema, tokens: Tokens) -> None:
    api_schema.config.generation.update(modes=[GenerationMode.POSITIVE])
    base = api_schema.as_state_machine()
    calls: Counter[tuple[str, int]] = Counter()

    class Machine(base):  # type: ignore[valid-type,misc]
        def setup(self) -> None:
            tokens.start_over()

        def get_call_kwargs(self, case: AnyCase) -> dict[str, Any]:
            return {"headers": tokens.headers_for(case)}

        def after_call(self, response: Any, case: AnyCase) -> None:
            calls[case.operation.label, response.status_code] += 1

        def validate_response(self, response: Any, case: AnyCase, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Machine.run(
        settings=settings(
            max_examples=_examples(STATEFUL_SCENARIOS),
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            stateful_step_count=12,
        )
    )
    # The links were followed: operations on a room reached through a created room's id.
    linked = {label for label, status in calls if "{roomId}" in label and status < 300}
    assert len(linked) >= 3, sorted(calls.items())
