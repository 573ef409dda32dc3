"""Databases written by the real LevelDB 1.23 (through plyvel) opened,
read and extended by lsmkit, and the reverse. plyvel is Debian's
python3-plyvel: run these tests from a venv made with
`/usr/bin/python3 -m venv --system-site-packages`."""

import os
import subprocess
import sys

import plyvel
import pytest

import lsmkit

N = 5000


def key(i):
    return b"key-%06d" % i


def value(i, generation=0):
    return (b"value-%d-%d-" % (i, generation)) * (1 + i % 7)


def fill(db, generation, start, stop):
    with db.write_batch() as wb:
        for i in range(start, stop):
            wb.put(key(i), value(i, generation))


def expected_after_both(n):
    """Keys 0..n written at generation 0, every third deleted, the even ones
    rewritten at generation 1, then n..n+1000 added at generation 1."""
    out = {}
    for i in range(n):
        if i % 3 == 0:
            continue
        out[key(i)] = value(i, 0)
    for i in range(0, n, 2):
        out[key(i)] = value(i, 1)
    for i in range(n, n + 1000):
        out[key(i)] = value(i, 1)
    return out


def first_half(db):
    fill(db, 0, 0, N)
    for i in range(0, N, 3):
        db.delete(key(i))


def second_half(db):
    for i in range(0, N, 2):
        db.put(key(i), value(i, 1))
    fill(db, 1, N, N + 1000)


def check(db, expected):
    assert dict(db.iterator()) == expected
    assert [k for k, _ in db.iterator()] == sorted(expected)
    assert [k for k, _ in db.iterator(reverse=True)] == sorted(expected, reverse=True)
    for k in list(expected)[::97]:
        assert db.get(k) == expected[k]
    assert db.get(key(3)) is None


def test_plyvel_writes_lsmkit_reads_and_extends(db_dir):
    # Small memtables so the data is spread over several tables and levels.
    db = plyvel.DB(db_dir, create_if_missing=True, write_buffer_size=64 * 1024)
    first_half(db)
    db.compact_range()
    db.put(b"in-the-log", b"only")  # left in LevelDB's log, not in a table
    db.close()

    db = lsmkit.DB(db_dir)
    assert db.get(b"in-the-log") == b"only"
    db.delete(b"in-the-log")
    second_half(db)
    check(db, expected_after_both(N))
    db.compact_range(start=key(100), stop=key(2000))
    db.close()

    db = plyvel.DB(db_dir)
    check(db, expected_after_both(N))
    assert db.get(b"in-the-log") is None
    db.close()


@pytest.mark.parametrize("compression", ["snappy", None])
def test_lsmkit_writes_plyvel_reads_and_extends(db_dir, compression):
    db = lsmkit.DB(db_dir, create_if_missing=True, write_buffer_size=64 * 1024,
                   compression=compression, bloom_filter_bits=10)
    first_half(db)
    db.compact_range()
    db.put(b"in-the-log", b"only")
    db.close()

    db = plyvel.DB(db_dir, bloom_filter_bits=10)
    assert db.get(b"in-the-log") == b"only"
    db.delete(b"in-the-log")
    second_half(db)
    db.compact_range()
    check(db, expected_after_both(N))
    db.close()

    db = lsmkit.DB(db_dir)
    check(db, expected_after_both(N))
    db.close()


def case_insensitive(a, b):
    a, b = a.lower(), b.lower()
    return (a > b) - (a < b)


def test_custom_comparator_across_engines(db_dir):
    name = b"test.CaseInsensitive"
    db = lsmkit.DB(db_dir, create_if_missing=True, comparator=case_insensitive,
                   comparator_name=name)
    for k in (b"b", b"A", b"c", b"D"):
        db.put(k, k)
    db.compact_range()
    db.close()

    # LevelDB refuses another comparator name, as lsmkit does.
    with pytest.raises(plyvel.Error):
        plyvel.DB(db_dir)
    with pytest.raises(lsmkit.Error):
        lsmkit.DB(db_dir)

    db = plyvel.DB(db_dir, comparator=case_insensitive, comparator_name=name)
    assert list(db.iterator(include_value=False)) == [b"A", b"b", b"c", b"D"]
    assert db.get(b"d") == b"D"
    db.put(b"B", b"B")  # replaces b"b" under this order
    db.close()

    db = lsmkit.DB(db_dir, comparator=case_insensitive, comparator_name=name)
    assert list(db.iterator()) == [(b"A", b"A"), (b"B", b"B"), (b"c", b"c"), (b"D", b"D")]
    db.close()


def try_open_in_child(module, path):
    """Opens `path` with `module` in another process; returns its output."""
    code = (
        "import sys, %s as m\n"
        "try:\n"
        "    m.DB(sys.argv[1])\n"
        "except m.IOError as e:\n"
        "    print('IOError', e)\n"
        "else:\n"
        "    print('opened')\n" % module
    )
    done = subprocess.run([sys.executable, "-c", code, path], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_each_engine_sees_the_others_lock(db_dir):
    db = lsmkit.DB(db_dir, create_if_missing=True)
    assert try_open_in_child("plyvel", db_dir).startswith("IOError")
    db.close()
    assert try_open_in_child("plyvel", db_dir) == "opened\n"

    db = plyvel.DB(db_dir)
    out = try_open_in_child("lsmkit", db_dir)
    assert out.startswith("IOError") and "LOCK" in out
    db.close()
    assert try_open_in_child("lsmkit", db_dir) == "opened\n"


def test_ttl_database_is_refused_by_leveldb(db_dir):
    db = lsmkit.DB(db_dir, create_if_missing=True, enable_ttl=True)
    db.put(b"k", b"v", ttl=3600)
    db.close()
    with pytest.raises(plyvel.Error):
        plyvel.DB(db_dir)
    assert os.path.exists(os.path.join(db_dir, "CURRENT"))
