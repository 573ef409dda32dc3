"""lsmkit: an LSM-tree key-value store byte-compatible with LevelDB 1.23,
with plyvel's API.

``lsmkit.DB`` opens a database as ``plyvel.DB`` does, and a program written
for plyvel runs with ``import lsmkit as plyvel``. A database written by
LevelDB opens in lsmkit and the reverse (unless an lsmkit-only option such
as ``enable_ttl`` is used). lsmkit adds ``DB.flush``, ``DB.checkpoint``,
``DB.updates_since`` (the write-ahead log as an iterator),
``DB.latest_sequence`` and puts with a time to live (``ttl=``).
"""

from ._lsmkit import (  # noqa: F401
    __leveldb_version__,
    __version__,
    DB,
    CorruptionError,
    Error,
    IOError,
    Iterator,
    IteratorInvalidError,
    PrefixedDB,
    RawIterator,
    Snapshot,
    WalUpdates,
    WriteBatch,
    destroy_db,
    repair_db,
)

__all__ = [
    "DB",
    "PrefixedDB",
    "WriteBatch",
    "Iterator",
    "RawIterator",
    "Snapshot",
    "WalUpdates",
    "Error",
    "IOError",
    "CorruptionError",
    "IteratorInvalidError",
    "repair_db",
    "destroy_db",
    "__leveldb_version__",
    "__version__",
]
