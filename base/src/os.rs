//! The few operating-system calls the engine makes outside the file
//! system, kept here so that every crate above `base` forbids `unsafe`: the
//! process's open-file limit (to bound the table cache) and the priority of
//! a background thread.

/// The soft limit on open file descriptors (`RLIMIT_NOFILE`), or `None`
/// when it is unlimited or cannot be read.
pub fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one `rlimit` into the valid, exclusively
    // borrowed struct passed to it and reads nothing else.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if status != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    Some(limit.rlim_cur)
}

/// Raises the calling thread's nice value by `increase`, to at most 19 (0
/// or less does nothing; RocksDB's `LowerThreadPoolCPUPriority`). Best
/// effort: on a system without per-thread priorities, or if the call
/// fails, the thread keeps its priority.
pub fn lower_current_thread_priority(increase: i32) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_is_positive_when_known() {
        if let Some(limit) = open_file_limit() {
            assert!(limit > 0);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_can_lower_its_own_priority() {
        let nice = std::thread::spawn(|| {
            // SAFETY: as in `lower_current_thread_priority`: integers only.
            let read = || unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
            let before = read();
            lower_current_thread_priority(3);
            (before, read())
        })
        .join()
        .unwrap();
        assert_eq!(nice.1, (nice.0 + 3).min(19));
    }
}
