"""Throwaway PostgreSQL databases for live servers and benchmarks (no Django needed)."""

from __future__ import annotations

import contextlib
import secrets
import urllib.parse
from collections.abc import Iterator


@contextlib.contextmanager
def fresh_database(admin_url: str, prefix: str = "berth_test") -> Iterator[str]:
    """A new, empty database on `admin_url`'s server; yields its URL, then drops it."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{secrets.token_hex(6)}"
    parts = urllib.parse.urlsplit(admin_url)
    maintenance = parts._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield parts._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(maintenance, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
