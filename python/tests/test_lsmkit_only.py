"""lsmkit's methods beyond plyvel's: flush, checkpoint, latest_sequence,
updates_since (the write-ahead log as an iterator) and puts with a time to
live."""

import os
import time

import pytest

import lsmkit


def table_files(db):
    return sum(int(db.get_property(b"leveldb.num-files-at-level%d" % level)) for level in range(7))


def test_flush_writes_a_table(db):
    db.put(b"a", b"1")
    assert table_files(db) == 0
    db.flush()
    assert table_files(db) == 1
    db.flush(wait=True)  # an empty memtable is not written again
    assert table_files(db) == 1
    assert db.get(b"a") == b"1"


def test_checkpoint_is_an_openable_copy(db, db_dir):
    for i in range(1000):
        db.put(b"%04d" % i, b"v%d" % i)
    db.flush()
    db.put(b"after-flush", b"x")
    target = os.path.join(db_dir, "..", os.path.basename(db_dir) + "-checkpoint")
    try:
        sequence = db.checkpoint(target)
        assert sequence == db.latest_sequence() == 1001
        db.put(b"after-checkpoint", b"y")
        with pytest.raises(lsmkit.Error, match="does not exist yet"):
            db.checkpoint(target)
        copy = lsmkit.DB(target)
        assert copy.get(b"0999") == b"v999"
        assert copy.get(b"after-flush") == b"x"
        assert copy.get(b"after-checkpoint") is None
        assert len(list(copy)) == 1001
        copy.close()
    finally:
        lsmkit.destroy_db(target)
    assert not os.path.exists(target)


def test_updates_since_lists_every_logged_write(db):
    db.put(b"a", b"1")
    db.delete(b"b")
    with db.write_batch() as wb:
        wb.put(b"c", b"3")
        wb.put(b"d", bytearray(b"4"))
    assert db.latest_sequence() == 4
    updates = db.updates_since(0)
    assert list(updates) == [
        (1, "put", b"a", b"1"),
        (2, "delete", b"b", None),
        (3, "put", b"c", b"3"),
        (4, "put", b"d", b"4"),
    ]
    # It follows the log: later writes show up on the next call.
    db.put(b"e", b"5")
    assert next(updates) == (5, "put", b"e", b"5")
    with pytest.raises(StopIteration):
        next(updates)

    batches = db.updates_since(3)
    assert batches.next_batch() == (3, [(3, "put", b"c", b"3"), (4, "put", b"d", b"4")])
    assert batches.next_batch() == (5, [(5, "put", b"e", b"5")])
    assert batches.next_batch() is None


def test_updates_since_needs_the_logs(db_dir):
    db = lsmkit.DB(db_dir, create_if_missing=True)
    db.put(b"a", b"1")
    db.flush()  # the log holding sequence 1 is deleted
    db.put(b"b", b"2")
    with pytest.raises(lsmkit.Error, match="no longer in the WAL"):
        db.updates_since(1)
    assert list(db.updates_since(2, follow_tail=False)) == [(2, "put", b"b", b"2")]
    db.close()


def test_updates_since_with_wal_retention(db_dir):
    db = lsmkit.DB(db_dir, create_if_missing=True, wal_ttl_seconds=3600)
    db.put(b"a", b"1")
    db.flush()
    db.put(b"b", b"2")
    assert os.listdir(os.path.join(db_dir, "archive"))
    assert list(db.updates_since(1)) == [(1, "put", b"a", b"1"), (2, "put", b"b", b"2")]
    db.close()


def test_ttl_puts_expire(db_dir):
    db = lsmkit.DB(db_dir, create_if_missing=True, enable_ttl=True)
    db.put(b"long", b"stays", ttl=3600)
    db.put(b"short", b"goes", ttl=0.001)
    db.put(b"plain", b"forever")
    with db.write_batch() as wb:
        wb.put(b"batch-short", b"goes", ttl=0.001)
        wb.put(b"batch-long", b"stays", ttl=3600)
    time.sleep(0.05)
    assert db.get(b"long") == b"stays"
    assert db.get(b"plain") == b"forever"
    assert db.get(b"short") is None
    assert db.get(b"batch-short") is None
    assert list(db) == [(b"batch-long", b"stays"), (b"long", b"stays"), (b"plain", b"forever")]
    # The log holds the values as written, without their expiry frames.
    assert (2, "put", b"short", b"goes") in list(db.updates_since(0))
    db.compact_range()
    assert db.get(b"short") is None and db.get(b"long") == b"stays"
    db.close()

    # The expiry is stored: after reopening, the long entry is still there.
    db = lsmkit.DB(db_dir, enable_ttl=True)
    assert db.get(b"long") == b"stays"
    db.close()


def test_ttl_needs_enable_ttl(db):
    with pytest.raises(ValueError, match="enable_ttl=True"):
        db.put(b"k", b"v", ttl=10)
    with pytest.raises(ValueError, match="enable_ttl=True"):
        db.write_batch().put(b"k", b"v", ttl=10)
    assert db.get(b"k") is None


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf")])
def test_ttl_must_be_positive_and_finite(db_dir, ttl):
    db = lsmkit.DB(db_dir, create_if_missing=True, enable_ttl=True)
    with pytest.raises(ValueError, match="'ttl' must be a finite number of seconds"):
        db.put(b"k", b"v", ttl=ttl)
    db.close()


def test_version_strings():
    assert lsmkit.__leveldb_version__ == "1.23"
    assert lsmkit.__version__.count(".") == 2
