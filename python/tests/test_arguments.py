"""Bad arguments give Python exceptions with messages that say what is
wrong; the exception classes form plyvel's hierarchy."""

import pathlib

import pytest

import lsmkit


def test_exception_hierarchy():
    assert issubclass(lsmkit.IOError, lsmkit.Error)
    assert issubclass(lsmkit.IOError, OSError)
    assert issubclass(lsmkit.CorruptionError, lsmkit.Error)
    assert issubclass(lsmkit.IteratorInvalidError, lsmkit.Error)
    assert issubclass(lsmkit.Error, Exception)


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(compression="zlib"), ValueError, "'compression' must be None or 'snappy'"),
    (dict(compression=5), TypeError, "'compression' must be None or a string"),
    (dict(write_buffer_size="big"), TypeError, "write_buffer_size"),
    (dict(max_open_files=-1), OverflowError, "negative"),
    (dict(comparator=sorted), ValueError, "must be specified together"),
    (dict(comparator_name=b"x"), ValueError, "must be specified together"),
    (dict(comparator=b"nope", comparator_name=b"x"), TypeError, "must be callable"),
    (dict(comparator=sorted, comparator_name="str-name"), TypeError, "comparator_name"),
    (dict(wal_ttl_seconds=-1.0), ValueError, "'wal_ttl_seconds' must be a finite number"),
])
def test_bad_open_arguments(db_dir, kwargs, exc, message):
    with pytest.raises(exc, match=message):
        lsmkit.DB(db_dir, create_if_missing=True, **kwargs)


def test_names(db_dir):
    with pytest.raises(TypeError, match="'name' must be a str, bytes or os.PathLike object, not 'int'"):
        lsmkit.DB(123)
    db = lsmkit.DB(pathlib.Path(db_dir), create_if_missing=True)
    assert db.name == pathlib.Path(db_dir)
    db.close()
    db = lsmkit.DB(db_dir.encode())
    assert db.name == db_dir.encode()
    assert "lsmkit.DB with name" in repr(db)
    db.close()
    assert "(closed)" in repr(db)


def test_open_errors(db_dir):
    with pytest.raises(lsmkit.Error, match="does not exist"):
        lsmkit.DB(db_dir)
    lsmkit.DB(db_dir, create_if_missing=True).close()
    with pytest.raises(lsmkit.Error, match="exists"):
        lsmkit.DB(db_dir, error_if_exists=True)
    db = lsmkit.DB(db_dir)
    with pytest.raises(lsmkit.IOError, match="LOCK"):
        lsmkit.DB(db_dir)
    db.close()


def test_bad_call_arguments(db):
    with pytest.raises(TypeError, match="a value must be a bytes-like object .* not 'int'"):
        db.put(b"k", 12)
    with pytest.raises(TypeError, match="not 'str'"):
        db.put(b"k", "text")
    with pytest.raises(TypeError, match="not 'NoneType'"):
        db.put(b"k", None)
    with pytest.raises(TypeError, match="key"):
        db.put("k", b"v")
    with pytest.raises(TypeError, match="key"):
        db.get(bytearray(b"k"))
    with pytest.raises(TypeError):
        db.get(b"k", None, True)  # the read options are keyword-only
    with pytest.raises(TypeError, match="'prefix' cannot be used together with 'start' or 'stop'"):
        db.iterator(prefix=b"a", stop=b"b")
    with pytest.raises(TypeError, match="start"):
        db.iterator(start="a")
    with pytest.raises(TypeError, match="reverse"):
        db.iterator(reverse="yes")
    with pytest.raises(TypeError, match="byte strings"):
        db.approximate_sizes((b"a", "b"))
    with pytest.raises(TypeError, match=r"\(start, stop\) tuple"):
        db.approximate_sizes(b"ab")
    with pytest.raises(TypeError, match="name"):
        db.get_property("leveldb.stats")
    with pytest.raises(TypeError, match="prefix"):
        db.prefixed_db(None)
    with pytest.raises(TypeError, match="target"):
        db.iterator().seek(5)
    with pytest.raises(TypeError, match="'name' must be a str, bytes or os.PathLike"):
        db.checkpoint(3.5)
    with pytest.raises(AttributeError):
        db.name = "other"
    # None of that wrote anything.
    assert list(db) == []


def test_values_from_buffers(db):
    import array
    db.put(b"a", array.array("H", [1, 2]))
    assert db.get(b"a") == array.array("H", [1, 2]).tobytes()
    db.put(b"m", memoryview(b"abcdef")[1:4])
    assert db.get(b"m") == b"bcd"


def test_raw_iterator_invalid(db):
    it = db.raw_iterator()
    for call in (it.key, it.value, it.item, it.next, it.prev):
        with pytest.raises(lsmkit.IteratorInvalidError, match="not positioned"):
            call()


def test_destroy_refuses_an_open_database(db, db_dir):
    with pytest.raises(lsmkit.IOError):
        lsmkit.destroy_db(db_dir)
    db.put(b"k", b"v")
    assert db.get(b"k") == b"v"


def test_repair_without_database(db_dir):
    with pytest.raises(lsmkit.Error, match="no database files to repair"):
        lsmkit.repair_db(db_dir)
