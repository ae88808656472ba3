"""A fresh, isolated PostgreSQL database URL for tests: one new schema per use.

The tests use the PostgreSQL at ``DEFAULT_ADMIN_URL`` (CI runs one there);
``CDS_TEST_POSTGRES_URL`` points them elsewhere. Each use creates a schema with
a unique name and hands out a URL whose ``search_path`` is that schema, so
parallel test sessions (and tests within one session) never see each other's
tables; the schema is dropped afterwards. When PostgreSQL is unreachable the
test FAILS with a message saying so: deselect with ``-m "not postgres"`` to run
without it.

In a test module or conftest::

    from tests.postgres import postgres_url_fixture

    postgres_url = postgres_url_fixture()  # a fixture named "postgres_url"

    @pytest.mark.postgres
    def test_something(postgres_url: str) -> None: ...
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

if TYPE_CHECKING:
    from _pytest.fixtures import FixtureFunctionDefinition

ADMIN_URL_VARIABLE = "CDS_TEST_POSTGRES_URL"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
SCHEMA_PREFIX = "cds_test"


def admin_url() -> str:
    """The URL of the test database itself (the role must be allowed to create schemas)."""
    return os.environ.get(ADMIN_URL_VARIABLE) or DEFAULT_ADMIN_URL


def with_search_path(url: str, schema: str) -> str:
    """``url`` with ``options=-csearch_path=<schema>`` (kept alongside any other options)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    options = f"-csearch_path={schema}"
    query["options"] = f"{query['options']} {options}" if query.get("options") else options
    return urlunsplit(parts._replace(query=urlencode(query)))


def _admin_connection(url: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        problem = str(error).strip()
    where = f"{urlsplit(url).hostname}:{urlsplit(url).port or 5432}"
    pytest.fail(
        f"PostgreSQL is not reachable at {where}: {problem}\n"
        f"The tests marked 'postgres' need it (CI runs one): start it, point"
        f" {ADMIN_URL_VARIABLE} at one, or deselect them with -m 'not postgres'.",
        pytrace=False,
    )


@contextmanager
def isolated_postgres_url(prefix: str = SCHEMA_PREFIX) -> Iterator[str]:
    """Create a uniquely named schema, yield a URL that uses it, then drop it."""
    url = admin_url()
    schema = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with _admin_connection(url) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield with_search_path(url, schema)
    finally:
        with _admin_connection(url) as connection:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def postgres_url_fixture(
    *,
    scope: Literal["function", "class", "module", "package", "session"] = "function",
    name: str = "postgres_url",
) -> FixtureFunctionDefinition:
    """A pytest fixture (named ``name``) giving an isolated PostgreSQL URL per ``scope``."""

    def fixture() -> Iterator[str]:
        with isolated_postgres_url() as url:
            yield url

    return pytest.fixture(fixture, scope=scope, name=name)
