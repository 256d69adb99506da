"""Small database helpers shared by registry queries."""

from django.db import connection
from django.db.models import F
from django.db.models.functions import Collate


def bytewise(field: str):
    """Order and compare `field` byte by byte (the spec's lexical order), on any database.

    PostgreSQL's default collation is locale-aware ("a" == "A" < "b"); SQLite's is binary.
    """
    if connection.vendor == "postgresql":
        return Collate(F(field), "C")
    return F(field)
