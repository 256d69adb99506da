"""Fixtures of scanning tests: the real OSV records of tests/registry/scanning/osv/."""

from pathlib import Path

import pytest

from registry.scanning import advisories

OSV = Path(__file__).parent / "osv"


@pytest.fixture
def osv_records(db):
    """The advisories of osv/ imported (real records of real CVEs)."""
    return advisories.import_advisories(OSV)
