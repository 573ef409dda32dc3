#!/usr/bin/python3
"""Interop helper for the entry-expiry tests of the lsmkit engine
(engine/tests/ttl.rs), driving the real LevelDB 1.23 through Debian's
python3-plyvel.

Usage:
  ttl_leveldb.py refuse DIR
      Opens DIR with LevelDB's default options (bytewise comparator). A
      database written by lsmkit with entry expiry must be refused: prints
      LevelDB's error message (the status text, e.g. "Invalid argument: ...")
      on stdout and exits 0. Exits 1 if LevelDB opened the database.
  ttl_leveldb.py roundtrip DIR N
      Opens DIR (a database written by lsmkit without entry expiry) with
      paranoid checks and verifies that it holds exactly the keys
      key-0000 .. key-{N-1} except every multiple of 7, with key-i mapped to
      value-i (a full scan and a get of each key, deleted ones included).
      Then writes from-leveldb = hello, deletes key-0001, and closes.
      Exits 0 on success; on a mismatch prints it on stderr and exits 1.
"""

import sys

import plyvel


def status_text(error):
    """LevelDB's status message carried by a plyvel.Error."""
    message = error.args[0] if error.args else str(error)
    if isinstance(message, bytes):
        message = message.decode("utf-8", "backslashreplace")
    return message


def refuse(path):
    try:
        db = plyvel.DB(path)
    except plyvel.Error as error:
        print(status_text(error))
        return 0
    db.close()
    print("LevelDB opened the database", file=sys.stderr)
    return 1


def expected_state(count):
    return {
        b"key-%04d" % i: b"value-%d" % i
        for i in range(count)
        if i % 7 != 0
    }


def roundtrip(path, count):
    expected = expected_state(count)
    db = plyvel.DB(path, paranoid_checks=True)
    try:
        found = dict(db.iterator())
        if found != expected:
            missing = sorted(set(expected) - set(found))[:5]
            extra = sorted(set(found) - set(expected))[:5]
            wrong = sorted(k for k in expected if k in found and found[k] != expected[k])[:5]
            print(f"scan differs: missing {missing}, extra {extra}, wrong values {wrong}", file=sys.stderr)
            return 1
        for i in range(count):
            key = b"key-%04d" % i
            if db.get(key) != expected.get(key):
                print(f"get {key!r} = {db.get(key)!r}, expected {expected.get(key)!r}", file=sys.stderr)
                return 1
        db.put(b"from-leveldb", b"hello")
        db.delete(b"key-0001")
    finally:
        db.close()
    print(f"LevelDB read {len(expected)} keys and wrote 2 updates")
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "refuse":
        return refuse(argv[2])
    if len(argv) == 4 and argv[1] == "roundtrip":
        return roundtrip(argv[2], int(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
