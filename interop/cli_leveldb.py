"""The real LevelDB 1.23 side of the lsmkit CLI's integration tests.

Usage:
  /usr/bin/python3 cli_leveldb.py make DB_DIR
  /usr/bin/python3 cli_leveldb.py dump DB_DIR
  /usr/bin/python3 cli_leveldb.py hold DB_DIR

make: writes a database through python3-plyvel (LevelDB 1.23) with binary
keys and values (NUL, newline, ':', 0xff bytes, an empty key), snappy
compression and a bloom filter, deletions, a full manual compaction (so
there are tables and a MANIFEST with several edits) and then a few last
writes that stay in the write-ahead log. Prints one line: the sequence
number of the first of those last writes (they are all in the live log).

dump: prints every entry of the database as LevelDB reads it, one
`0xKEY : 0xVALUE` line each in key order: exactly what `lsmkit --hex scan`
prints.

hold: opens the database (LevelDB takes its LOCK), prints `locked`, and keeps
it open until its stdin is closed.
"""

import sys

import plyvel


def key(i: int) -> bytes:
    return b"\x00k" + i.to_bytes(4, "big")


def value(i: int) -> bytes:
    return bytes((i * 7 + j) % 256 for j in range(i % 40)) + b"\n:\xff"


def make(db_dir: str) -> None:
    db = plyvel.DB(
        db_dir,
        create_if_missing=True,
        error_if_exists=True,
        write_buffer_size=64 * 1024,
        bloom_filter_bits=10,
        compression="snappy",
    )
    operations = 0
    for i in range(3000):
        db.put(key(i), value(i))
        operations += 1
    for special, v in [(b"", b"empty key"), (b"\xff\xff", b"last"), (b"a\n: b", b"odd key"),
                       (b"prefix-1", b"p1"), (b"prefix-2", b"p2"), (b"prefiy", b"after the prefix")]:
        db.put(special, v)
        operations += 1
    for i in range(0, 3000, 10):
        db.delete(key(i))
        operations += 1
    db.compact_range()
    first_logged = operations + 1
    # The last writes: exactly these are in the live log, in this order.
    db.put(b"wal-1", b"one")
    with db.write_batch() as batch:
        batch.put(b"wal-2", b"\x00two")
        batch.delete(key(5))
    db.put(key(1), b"overwritten")
    db.close()
    print(first_logged)


def dump(db_dir: str) -> None:
    db = plyvel.DB(db_dir)
    out = sys.stdout
    for k, v in db.iterator():
        out.write("0x%s : 0x%s\n" % (k.hex().upper(), v.hex().upper()))
    db.close()


def hold(db_dir: str) -> None:
    db = plyvel.DB(db_dir)
    print("locked", flush=True)
    sys.stdin.read()
    db.close()


def main() -> None:
    command, db_dir = sys.argv[1], sys.argv[2]
    if command == "make":
        make(db_dir)
    elif command == "dump":
        dump(db_dir)
    elif command == "hold":
        hold(db_dir)
    else:
        sys.exit("unknown command " + command)


if __name__ == "__main__":
    main()
