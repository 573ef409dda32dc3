#!/usr/bin/python3
"""Interop helper for lsmkit-bloom's tests: has the real LevelDB (via Debian's
python3-plyvel) write tables with its bloom filter, and reads back tables whose
filter lsmkit replaced.

Run with /usr/bin/python3 (the interpreter that has plyvel):

  bloom_leveldb_tables.py write-rich DB_DIR KEYS_FILE
      A database with overwrites, deletions and snapshots kept alive through a
      full compaction, so tables hold several versions of a user key and
      deletion markers; 1 KiB blocks, a few large values (windows of the filter
      block with no block start), small files (several tables), no compression,
      bloom_filter_bits=10. KEYS_FILE gets every user key written, hex, one a line.

  bloom_leveldb_tables.py write-simple DB_DIR KEYS_FILE
      Distinct keys only, no compression, bloom_filter_bits=10, everything
      compacted into tables (no overlapping versions, so the tables stay valid
      after `repair_db` puts them all in level 0).

  bloom_leveldb_tables.py verify-simple DB_DIR
      After lsmkit rewrote the tables with another filter policy: repairs the
      MANIFEST (the table sizes changed), opens the database with LevelDB's
      bloom filter configured and checks that every key written by
      write-simple is found with its value, that absent keys are absent and
      that iteration yields exactly the data set. Prints "verified N keys".

Exits non-zero (with a message on stderr) if anything is wrong, including
plyvel being unavailable.
"""

import random
import sys

import plyvel


def rich_data_set():
    """Yields (phase, key, value_or_None): phase 0 before the snapshot, 1 after."""
    rng = random.Random(20240611)
    keys = [b"key%06d" % i for i in range(4000)]
    # Binary keys of all short lengths, many ending in bytes >= 0x80 (the
    # hash's tail bytes are unsigned), plus the empty key.
    keys += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 25))) for _ in range(2000)]
    keys.append(b"")
    keys = list(dict.fromkeys(keys))
    for index, key in enumerate(keys):
        size = rng.randrange(3000, 9000) if index % 300 == 7 else rng.randrange(10, 200)
        yield 0, key, bytes(rng.randrange(256) for _ in range(size))
    for key in rng.sample(keys, 600):
        yield 1, key, b"overwritten-" + key
    for key in rng.sample(keys, 300):
        yield 1, key, None
    for i in range(500):
        yield 1, b"late%05d" % i, b"late value %d" % i


def simple_data_set():
    """Returns {key: value} with distinct keys."""
    rng = random.Random(7)
    data = {b"user%07d" % (i * 7919 % 100000): b"value-%d-" % i + bytes(rng.randrange(256) for _ in range(40))
            for i in range(5000)}
    for _ in range(1000):
        key = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
        data[key] = b"binary-" + key
    return data


def write_keys_file(path, keys):
    with open(path, "w") as out:
        for key in sorted(set(keys)):
            out.write(key.hex() + "\n")


def write_rich(db_dir, keys_file):
    db = plyvel.DB(db_dir, create_if_missing=True, error_if_exists=True, bloom_filter_bits=10,
                   compression=None, write_buffer_size=32 * 1024, block_size=1024,
                   max_file_size=128 * 1024)
    written = []
    snapshot = None
    for phase, key, value in rich_data_set():
        if phase == 1 and snapshot is None:
            # Keeps every older version and every deletion marker alive
            # through the compaction below.
            snapshot = db.snapshot()
        if value is None:
            db.delete(key)
        else:
            db.put(key, value)
        written.append(key)
    db.compact_range()
    snapshot.close()
    db.close()
    write_keys_file(keys_file, written)


def write_simple(db_dir, keys_file):
    db = plyvel.DB(db_dir, create_if_missing=True, error_if_exists=True, bloom_filter_bits=10,
                   compression=None, write_buffer_size=64 * 1024)
    data = simple_data_set()
    with db.write_batch() as batch:
        for key, value in data.items():
            batch.put(key, value)
    db.compact_range()
    db.close()
    write_keys_file(keys_file, data.keys())


def verify_simple(db_dir):
    data = simple_data_set()
    plyvel.repair_db(db_dir, bloom_filter_bits=10, compression=None)
    db = plyvel.DB(db_dir, bloom_filter_bits=10, compression=None, paranoid_checks=True)
    problems = []
    for key, value in data.items():
        found = db.get(key)
        if found != value:
            problems.append("get(%s) = %r, expected %r" % (key.hex(), found, value))
    for i in range(2000):
        key = b"absent%05d" % i
        if db.get(key) is not None:
            problems.append("absent key %s found" % key.hex())
    iterated = dict(db.iterator())
    if iterated != data:
        problems.append("iteration yields %d entries, expected %d (or different values)"
                        % (len(iterated), len(data)))
    db.close()
    if problems:
        sys.stderr.write("\n".join(problems[:20]) + "\n%d problems\n" % len(problems))
        sys.exit(1)
    print("verified %d keys" % len(data))


def main(argv):
    if len(argv) == 4 and argv[1] == "write-rich":
        write_rich(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "write-simple":
        write_simple(argv[2], argv[3])
    elif len(argv) == 3 and argv[1] == "verify-simple":
        verify_simple(argv[2])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
