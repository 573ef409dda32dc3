//! MANIFEST, VersionEdit, Version and VersionSet: filled in by step 4 (issue 5); nothing here yet.
