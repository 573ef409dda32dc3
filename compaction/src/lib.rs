//! Compaction pickers and the compaction job: filled in by step 4 (issue 5); nothing here yet.
