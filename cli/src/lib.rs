//! The `lsmkit` command-line tool: filled in by step 8 (issue 9); nothing here yet.
