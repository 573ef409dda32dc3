//! The snapshot archive: a state-machine checkpoint packed into one file
//! (docs/raft.md, "Snapshot archive format").
