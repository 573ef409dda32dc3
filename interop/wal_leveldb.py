#!/usr/bin/python3
"""Interop helper for lsmkit-wal's tests, driving the real LevelDB 1.23
through Debian's python3-plyvel.

Usage:
  wal_leveldb.py write-log DIR N   create a database in DIR, write N batches
                                   (puts and deletes of binary keys), print
                                   them, and exit WITHOUT closing, so the
                                   batches stay in DIR's .log file
  wal_leveldb.py prepare DIR       create a database holding one key and exit
                                   without closing (DIR gets a MANIFEST and a .log)
  wal_leveldb.py dump DIR          open DIR with paranoid checks (any dropped
                                   log bytes fail the open) and print every
                                   key and value

Output lines (hex-encoded bytes):
  write-log: "B <count>" per batch, then "P <key> <value>" or "D <key>" per operation
  dump:      "<key> <value>" per entry, in key order
"""

import os
import random
import sys

import plyvel


def random_key(rng):
    # Binary keys, including 0x00 and 0xff bytes, from a small key space
    # so that deletes and overwrites hit existing keys.
    return bytes([rng.choice([0, 1, 0x61, 0x7F, 0x80, 0xFF]) for _ in range(rng.randint(1, 3))]) + bytes(
        [rng.randrange(256) for _ in range(rng.randint(0, 12))]
    )


def write_log(directory, batches):
    rng = random.Random(20231)
    db = plyvel.DB(directory, create_if_missing=True, error_if_exists=True)
    out = []
    for i in range(batches):
        ops = []
        for _ in range(rng.randint(1, 8)):
            key = random_key(rng)
            if rng.random() < 0.3:
                ops.append(("D", key, None))
            else:
                size = rng.choice([0, 1, 10, 100, 1000]) if i % 50 else 40000 + rng.randrange(30000)
                ops.append(("P", key, bytes(rng.randrange(256) for _ in range(size))))
        with db.write_batch() as wb:
            for kind, key, value in ops:
                if kind == "P":
                    wb.put(key, value)
                else:
                    wb.delete(key)
        out.append("B %d" % len(ops))
        for kind, key, value in ops:
            out.append("P %s %s" % (key.hex(), value.hex()) if kind == "P" else "D %s" % key.hex())
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
    # Die without closing: the log is the only copy of the batches.
    os._exit(0)


def prepare(directory):
    db = plyvel.DB(directory, create_if_missing=True, error_if_exists=True)
    db.put(b"seed", b"x")
    sys.stdout.flush()
    os._exit(0)


def dump(directory):
    db = plyvel.DB(directory, create_if_missing=False, paranoid_checks=True)
    for key, value in db:
        sys.stdout.write("%s %s\n" % (key.hex(), value.hex()))
    db.close()


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "write-log":
        write_log(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "prepare":
        prepare(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "dump":
        dump(sys.argv[2])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
