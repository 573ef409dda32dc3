"""Threads and misuse: closing a database while other threads use it,
using iterators, snapshots and write batches of a closed database, a
comparator that raises, a database dropped without close(). Each must end
in a Python exception (RuntimeError for a closed database), never a crash
or a hang."""

import gc
import threading
import time

import pytest

import lsmkit

JOIN_TIMEOUT = 120  # seconds; a hang fails the test instead of blocking CI


def run_threads(targets):
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    return threads


def join_all(threads):
    for t in threads:
        t.join(JOIN_TIMEOUT)
        assert not t.is_alive(), "a thread hung"


def test_everything_raises_after_close(db):
    db.put(b"a", b"1")
    db.put(b"b", b"2")
    it = db.iterator()
    raw = db.raw_iterator()
    raw.seek_to_first()
    snapshot = db.snapshot()
    snapshot_it = snapshot.iterator()
    wb = db.write_batch()
    prefixed = db.prefixed_db(b"a")
    updates = db.updates_since(0)
    assert next(it) == (b"a", b"1")

    db.close()
    assert db.closed
    db.close()  # twice is fine

    calls = [
        lambda: db.get(b"a"), lambda: db.put(b"a", b"1"), lambda: db.delete(b"a"),
        db.write_batch, lambda: db.iterator(), db.raw_iterator, db.snapshot, lambda: iter(db),
        lambda: db.get_property(b"leveldb.stats"), db.compact_range,
        lambda: db.approximate_size(b"a", b"b"), db.flush, db.latest_sequence,
        lambda: db.updates_since(0), lambda: db.checkpoint("/nonexistent-dir/x"),
        lambda: next(it), it.prev, it.seek_to_start, lambda: it.seek(b"a"),
        raw.valid, raw.key, raw.next, raw.seek_to_last,
        lambda: snapshot.get(b"a"), snapshot.iterator, lambda: next(snapshot_it),
        lambda: wb.put(b"k", b"v"), wb.write, wb.clear, lambda: wb.__enter__(),
        lambda: prefixed.get(b"x"), lambda: prefixed.put(b"x", b"y"), lambda: list(prefixed),
        lambda: next(updates),
    ]
    for call in calls:
        with pytest.raises(RuntimeError, match="closed"):
            call()
    # Closing the leftovers is harmless.
    it.close()
    raw.close()
    snapshot.close()
    updates.close()


def test_close_while_threads_work(db_dir):
    db = lsmkit.DB(db_dir, create_if_missing=True, write_buffer_size=64 * 1024)
    for i in range(2000):
        db.put(b"%06d" % i, b"x" * 100)
    started = threading.Barrier(7)
    outcomes = []

    def until_closed(step):
        def body():
            started.wait()
            n = 0
            try:
                while True:
                    step(n)
                    n += 1
            except RuntimeError as e:
                outcomes.append(("closed", str(e), n))
            except BaseException as e:  # anything else fails the test
                outcomes.append(("unexpected", repr(e), n))
        return body

    def writer(n):
        db.put(b"w%08d" % n, b"y" * 200)

    def batch_writer(n):
        with db.write_batch() as wb:
            for j in range(10):
                wb.put(b"b%08d-%d" % (n, j), b"z")

    def scanner(n):
        for _ in db.iterator(reverse=n % 2 == 1):
            pass

    def stepper(n):
        it = db.iterator()
        for _ in range(50):
            next(it)
        it.prev()
        it.seek(b"001000")
        next(it)

    def raw_stepper(n):
        it = db.raw_iterator()
        it.seek_to_last()
        while it.valid():
            it.prev()

    def reader(n):
        with db.snapshot() as sn:
            assert sn.get(b"%06d" % (n % 2000)) == b"x" * 100

    threads = run_threads([until_closed(f) for f in
                           (writer, batch_writer, scanner, stepper, raw_stepper, reader)])
    started.wait()
    # Let every thread get going, then close under them.
    while db.latest_sequence() < 4000:
        time.sleep(0.01)
    db.close()
    join_all(threads)
    assert len(outcomes) == 6
    assert [o for o in outcomes if o[0] != "closed"] == []
    # The directory is unlocked at once: it opens again, with the writes made.
    db = lsmkit.DB(db_dir)
    assert db.get(b"000001") == b"x" * 100
    assert db.get(b"w%08d" % 0) == b"y" * 200
    db.close()


def test_threads_share_a_database(db):
    """Writers, iterators and readers on one database at once (the GIL is
    released during each call, so they really run side by side)."""
    errors = []

    def guarded(f):
        def body():
            try:
                f()
            except BaseException as e:
                errors.append(repr(e))
        return body

    def writer(t):
        def f():
            for i in range(3000):
                db.put(b"%d-%06d" % (t, i), b"%d" % i)
        return f

    def iterate():
        for _ in range(5):
            keys = [k for k, _ in db.iterator()]
            assert keys == sorted(keys)

    def read_back(t):
        def f():
            with db.write_batch(transaction=True) as wb:
                for i in range(500):
                    wb.put(b"r%d-%06d" % (t, i), b"v")
            for i in range(500):
                assert db.get(b"r%d-%06d" % (t, i)) == b"v"
        return f

    threads = run_threads([guarded(writer(t)) for t in range(4)] +
                          [guarded(iterate) for _ in range(3)] +
                          [guarded(read_back(t)) for t in range(3)])
    join_all(threads)
    assert errors == []
    assert len(list(db.iterator(prefix=b"2-"))) == 3000
    assert len(list(db.iterator(prefix=b"r"))) == 1500


def test_python_comparator_under_threads(db_dir):
    def reverse_order(a, b):
        return (a < b) - (a > b)

    db = lsmkit.DB(db_dir, create_if_missing=True, comparator=reverse_order,
                   comparator_name=b"test.Reverse", write_buffer_size=64 * 1024)

    def writer(t):
        def f():
            for i in range(1500):
                db.put(b"%d-%05d" % (t, i), b"x" * 50)
        return f

    def scanner():
        for _ in range(3):
            keys = list(db.iterator(include_value=False))
            assert keys == sorted(keys, reverse=True)

    threads = run_threads([writer(t) for t in range(3)] + [scanner, scanner])
    join_all(threads)
    db.compact_range()
    keys = list(db.iterator(include_value=False))
    assert len(keys) == 4500 and keys == sorted(keys, reverse=True)
    db.close()


def test_comparator_that_raises(db_dir):
    class Boom(Exception):
        pass

    state = {"fail": False}

    def fragile(a, b):
        if state["fail"]:
            raise Boom("no comparing today")
        return (a > b) - (a < b)

    db = lsmkit.DB(db_dir, create_if_missing=True, comparator=fragile,
                   comparator_name=b"test.Fragile")
    db.put(b"a", b"1")
    db.put(b"b", b"2")
    state["fail"] = True
    with pytest.raises(lsmkit.Error, match="comparator raised") as info:
        db.put(b"c", b"3")
    assert isinstance(info.value.__cause__, Boom)
    assert db.closed
    with pytest.raises(RuntimeError):
        db.get(b"a")


def test_dropped_database_unlocks(db_dir):
    db = lsmkit.DB(db_dir, create_if_missing=True)
    db.put(b"k", b"v")
    it = db.iterator()
    del db
    gc.collect()
    # The iterator keeps the database open, as in plyvel.
    assert next(it) == (b"k", b"v")
    with pytest.raises(lsmkit.IOError):
        lsmkit.DB(db_dir)
    del it
    gc.collect()
    db = lsmkit.DB(db_dir)
    assert db.get(b"k") == b"v"
    db.close()


@pytest.mark.parametrize("reverse", [False, True])
def test_one_iterator_shared_by_threads(db, reverse):
    """Threads pulling from one iterator get every entry exactly once (the
    iterator reads ahead in batches; no entry is lost or repeated)."""
    n = 20000
    with db.write_batch() as wb:
        for i in range(n):
            wb.put(b"%06d" % i, b"v%d" % i)
    it = db.iterator(include_value=False, reverse=reverse)
    seen = [[] for _ in range(4)]

    def pull(mine):
        def body():
            for k in it:
                mine.append(k)
        return body

    join_all(run_threads([pull(s) for s in seen]))
    every = sorted(k for s in seen for k in s)
    assert every == [b"%06d" % i for i in range(n)]
    for s in seen:  # each thread saw its share in the iterator's order
        assert s == sorted(s, reverse=reverse)
