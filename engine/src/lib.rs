//! The assembled lsmkit engine (`Db`): filled in by step 5 (issue 6); nothing here yet.
