"""Builds a LevelDB 1.23 database with several flushes and compactions, for
lsmkit-version's MANIFEST interoperability test.

Usage: /usr/bin/python3 version_make_db.py DB_DIR

Writes through python3-plyvel (the real LevelDB) with a small write buffer so
that many memtables are flushed, runs manual compactions, and reopens the
database twice (each open writes a new MANIFEST starting with a snapshot
record). Prints one line: the number of write operations, which is the last
sequence number LevelDB used.

The final session leaves LevelDB with no background work at close: LevelDB
abandons a flush or compaction that is running when the database is closed,
and the table it was writing stays on disk, unrecorded, until the next open
deletes it. The test compares the MANIFEST with the directory, so it needs a
directory without such leftovers.
"""

import sys

import plyvel

WRITE_BUFFER = 64 * 1024
VALUE = b"v" * 200


def open_db(db_dir: str, **options) -> plyvel.DB:
    return plyvel.DB(db_dir, write_buffer_size=WRITE_BUFFER, compression=None, **options)


def main() -> None:
    db_dir = sys.argv[1]
    operations = 0

    # Session 1: many flushes, a full manual compaction, deletions.
    db = open_db(db_dir, create_if_missing=True, error_if_exists=True)
    for i in range(6000):
        db.put(b"key%06d" % i, VALUE + b"%d" % i)
        operations += 1
    db.compact_range()
    for i in range(0, 6000, 7):
        db.delete(b"key%06d" % i)
        operations += 1
    db.close()

    # Session 2: overwrites, a partial manual compaction, new keys.
    db = open_db(db_dir)
    for i in range(3000, 5000):
        db.put(b"key%06d" % i, VALUE + b"second%d" % i)
        operations += 1
    db.compact_range(start=b"key003000", stop=b"key003500")
    for i in range(6000, 6600):
        db.put(b"key%06d" % i, VALUE)
        operations += 1
    db.close()

    # Session 3: opening deletes any table an interrupted background job left
    # behind. Compact everything, then add key ranges after all existing keys:
    # each flushed memtable overlaps nothing and is placed at level 2, so no
    # compaction is ever scheduled again. compact_range on an empty range
    # flushes the memtable and waits for it. The last writes stay in the WAL.
    db = open_db(db_dir)
    db.compact_range()
    for i in range(1500):
        db.put(b"new%06d" % i, VALUE)
        operations += 1
    db.compact_range(start=b"zzz", stop=b"zzz")
    for i in range(50):
        db.put(b"tail%04d" % i, VALUE)
        operations += 1
    db.close()
    print(operations)


if __name__ == "__main__":
    main()
