//! Lowering the CPU priority of a background thread (RocksDB's
//! `LowerThreadPoolCPUPriority`): compactions then yield the cores to
//! foreground reads and writes and to the flush thread when all are busy,
//! instead of sharing them equally, and still use every idle cycle.

/// Raises the calling thread's nice value by `increase` (0 does nothing).
/// Best effort: on a system without per-thread priorities, or if the call
/// fails, the thread keeps running at its priority.
pub(crate) fn lower_current_thread_priority(increase: i32) {
    if increase <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid, getpriority and setpriority take plain integers and
        // touch no memory of ours; on Linux, PRIO_PROCESS with a thread id
        // reads and changes the nice value of that one thread.
        unsafe {
            let tid = libc::gettid() as libc::id_t;
            let current = libc::getpriority(libc::PRIO_PROCESS, tid);
            let lowered = current.saturating_add(increase).min(19);
            libc::setpriority(libc::PRIO_PROCESS, tid, lowered);
        }
    }
}
