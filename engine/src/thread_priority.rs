//! Lowering the CPU priority of a background thread (RocksDB's
//! `LowerThreadPoolCPUPriority`): compactions then yield the cores to
//! foreground reads and writes and to the flush thread when all are busy,
//! instead of sharing them equally, and still use every idle cycle. The
//! system call is in `lsmkit_base::os`.

/// Raises the calling thread's nice value by `increase` (0 does nothing).
/// Best effort: on a system without per-thread priorities, or if the call
/// fails, the thread keeps running at its priority.
pub(crate) fn lower_current_thread_priority(increase: i32) {
    lsmkit_base::os::lower_current_thread_priority(increase);
}
