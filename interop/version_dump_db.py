"""Opens a LevelDB database with the real LevelDB 1.23 (python3-plyvel) and
prints a digest of its contents, for lsmkit-version's MANIFEST
interoperability test.

Usage: /usr/bin/python3 version_dump_db.py DB_DIR

Prints one line: the number of entries and the SHA-256 of every key and value
in order. Opening fails (non-zero exit) if LevelDB cannot read the MANIFEST.
"""

import hashlib
import sys

import plyvel


def main() -> None:
    db = plyvel.DB(sys.argv[1], create_if_missing=False, paranoid_checks=True)
    digest = hashlib.sha256()
    count = 0
    for key, value in db:
        digest.update(len(key).to_bytes(4, "little") + key)
        digest.update(len(value).to_bytes(4, "little") + value)
        count += 1
    db.close()
    print(count, digest.hexdigest())


if __name__ == "__main__":
    main()
