#!/usr/bin/python3
"""LevelDB 1.23 side of lsmkit-sstable's interoperability tests (python3-plyvel).

Subcommands (run with /usr/bin/python3):

  write DIR DUMP COMPRESSION
      Creates a LevelDB database in DIR with a 64 KiB write buffer (so many
      .ldb tables exist), a 10-bit bloom filter and COMPRESSION ("snappy" or
      "none"); writes thousands of keys with overwrites and deletions; closes
      and reopens it so the last memtable is flushed to a table too; then
      writes the final contents to DUMP.

  repair-and-dump DIR DUMP
      Runs LevelDB's RepairDB on DIR (which holds only tables written by
      lsmkit, no MANIFEST), opens the result with a 10-bit bloom filter,
      checks that every key reads back the same through Get as through the
      iterator and that absent keys are absent, compacts it, and writes the
      contents to DUMP.

DUMP format: one line per entry in key order, "hex(key) hex(value)".
Exits non-zero on any failure (including a missing plyvel).
"""

import sys

import plyvel


def dump(db, path):
    with open(path, "w", encoding="ascii") as out:
        for key, value in db.iterator():
            out.write(f"{key.hex()} {value.hex()}\n")


def value_for(i, round_):
    # Repetitive values compress well; the index makes each one distinct.
    body = (f"value-{round_}-{i:06d}-" * (1 + i % 7)).encode()
    return body[: 20 + (i * 37) % 180]


def write(directory, dump_path, compression):
    options = {
        "write_buffer_size": 64 * 1024,
        "bloom_filter_bits": 10,
        "compression": None if compression == "none" else "snappy",
    }
    db = plyvel.DB(directory, create_if_missing=True, error_if_exists=True, **options)
    keys = 6000
    for i in range(keys):
        db.put(f"key{i:06d}".encode(), value_for(i, 0))
    # Overwrite every third key and delete every eleventh, so tables hold
    # several versions and deletion markers.
    for i in range(0, keys, 3):
        db.put(f"key{i:06d}".encode(), value_for(i, 1))
    for i in range(0, keys, 11):
        db.delete(f"key{i:06d}".encode())
    # Binary keys and an empty value.
    db.put(b"\x00\xff binary", b"")
    db.put(b"\xff\xff", b"last")
    db.close()
    # Reopening replays the log and writes it to a table.
    db = plyvel.DB(directory, **options)
    dump(db, dump_path)
    db.close()


def repair_and_dump(directory, dump_path):
    plyvel.repair_db(directory, bloom_filter_bits=10)
    db = plyvel.DB(directory, bloom_filter_bits=10)
    entries = list(db.iterator())
    if not entries:
        raise SystemExit("repaired database is empty")
    present = {key for key, _ in entries}
    for key, value in entries:
        got = db.get(key)
        if got != value:
            raise SystemExit(f"get({key!r}) = {got!r}, iterator says {value!r}")
        absent = key + b"\x00absent"
        if absent not in present and db.get(absent) is not None:
            raise SystemExit(f"absent key {absent!r} was found")
    db.compact_range()
    dump(db, dump_path)
    db.close()


def main(argv):
    if len(argv) == 5 and argv[1] == "write":
        write(argv[2], argv[3], argv[4])
    elif len(argv) == 4 and argv[1] == "repair-and-dump":
        repair_and_dump(argv[2], argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
