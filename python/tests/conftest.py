"""Fixtures of lsmkit's own Python tests: a fresh directory per test, and
an open database in it, closed afterwards."""

import shutil
import tempfile

import pytest

import lsmkit


@pytest.fixture
def db_dir():
    name = tempfile.mkdtemp(prefix="lsmkit-test-")
    yield name
    shutil.rmtree(name, ignore_errors=True)


@pytest.fixture
def db(db_dir):
    database = lsmkit.DB(db_dir, create_if_missing=True)
    yield database
    database.close()
