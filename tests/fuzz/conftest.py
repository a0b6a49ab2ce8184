"""The fuzz tests use the integration fixtures (real PostgreSQL, Valkey and moto)."""

from tests.integration.conftest import api, client, container, publisher, settings

__all__ = ["api", "client", "container", "publisher", "settings"]


def pytest_configure(config: object) -> None:
    """``slow``: a test of real I/O that runs hundreds of generated cases."""
    config.addinivalue_line(  # type: ignore[attr-defined]
        "markers", "slow: hundreds of generated cases over real I/O"
    )
