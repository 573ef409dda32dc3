//! The guard that turns a failed access to a memory-mapped file into an
//! error instead of a crash: reads of mapped table files
//! (docs/architecture.md, "Reading table files") and stores into the
//! mapped chunks of a write-ahead log written in `WriteMode::Mmap`.
//! (The file keeps the name it had when it guarded reads only.)
//!
//! A page of a mapping that the kernel cannot provide (the file was
//! truncated behind the mapping, or the disk returned an I/O error) is
//! reported to the thread touching it as `SIGBUS`, whose default action
//! kills the process. Here:
//!
//! - A process-wide [`Registry`] of live mappings: a fixed array of
//!   [`MAX_GUARDED_MAPPINGS`] slots of atomics, lock-free and readable from
//!   a signal handler. Each slot knows whether its mapping is writable. A
//!   mapping that finds no free slot is not used: a table file is read with
//!   `pread` instead, a log chunk is written with `pwrite`. That also
//!   bounds the number of mapped files the way LevelDB's `mmap_limit` does.
//! - A `SIGBUS` handler, installed once, lazily, before the first mapping
//!   is registered. A fault whose address lies inside a registered mapping
//!   marks that mapping failed (recording the offset of the faulting
//!   address) and maps an anonymous zero page over the faulting page, so
//!   the faulting instruction completes: a load reads zeros; a store into
//!   a writable mapping lands in that throwaway page (which is mapped
//!   writable for this reason; over a read-only mapping it is read-only).
//!   Any other `SIGBUS` goes to the handler that was there before: called
//!   when it is a function; when it was `SIG_DFL` or `SIG_IGN` it is put
//!   back and the handler returns, so the fault repeats under it and the
//!   process dies exactly as it would have without lsmkit. (Rust's own
//!   runtime installs a `SIGBUS` handler for stack-overflow detection that
//!   does the same for faults it does not recognise, so that is usually the
//!   handler called.)
//!
//! The handler only loads and stores atomics and makes raw system calls
//! (`mmap`, `rt_sigaction`): no allocation, no lock, no formatting.
//!
//! A `SIGBUS` handler installed after this one takes precedence; unless it
//! passes the faults it does not recognise on to the handler it replaced
//! (with the kernel's `siginfo`), a failed mapped access ends the process
//! as it would without the guard. Python's `faulthandler`, for one,
//! re-raises the signal, which loses the fault address: use
//! `ReadMode::Positional` and a buffered log in such a process.
//!
//! The guard alone does not make an access safe: the user of a mapping
//! must never hand out a reference into it, and must ask
//! [`Registration::failure`] after each access. `StdMmapFile` (std_fs.rs)
//! copies (or decompresses) the bytes out first and then asks; a set mark
//! turns the read, and every later one, into `Error::Io`.
//! `StdMmapWritableFile` copies an append into the mapping and then asks;
//! a set mark turns the append, and every later call on the file, into
//! `Error::Io` (the appended bytes went to the throwaway page).
//!
//! The guard exists on Linux (and Android); elsewhere no slot is ever free,
//! so mapped reads fall back to positional ones, mapped writes to
//! positional writes.

use std::sync::atomic::{compiler_fence, fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// How many mappings the guard can watch at once in this process: mapped
/// table files plus mapped log chunks (LevelDB 1.23 maps at most 1000
/// table files on 64-bit systems and none on 32-bit ones). A table file
/// opened beyond this is read positionally, a log chunk created beyond it
/// is written positionally.
pub const MAX_GUARDED_MAPPINGS: usize = if cfg!(target_pointer_width = "64") { 1000 } else { 0 };

/// How many mappings are registered with the guard right now (files opened
/// with [`ReadMode::Mmap`](crate::fs::ReadMode::Mmap) and files being
/// written with [`WriteMode::Mmap`](crate::fs::WriteMode::Mmap) that got a
/// mapping; at most [`MAX_GUARDED_MAPPINGS`]).
///
/// ```
/// use lsmkit_base::fs::{guarded_mappings, MAX_GUARDED_MAPPINGS};
/// assert!(guarded_mappings() <= MAX_GUARDED_MAPPINGS);
/// ```
pub fn guarded_mappings() -> usize {
    REGISTRY.live()
}

/// A slot's `state` low bits: free, being filled, or live. The bits above
/// count how often the slot was claimed, so that a handler reading a slot
/// while it changes hands sees two different states and ignores it (a
/// sequence lock).
const FREE: u64 = 0;
const CLAIMING: u64 = 1;
const LIVE: u64 = 2;
const STATE_MASK: u64 = 3;
/// No fault recorded (the `fault_offset` of a slot that did not fail).
const NO_FAULT: usize = usize::MAX;

/// Whether a registered mapping may be written: decides the protection of
/// the page the handler puts over a faulting one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Mapped `PROT_READ`.
    ReadOnly,
    /// Mapped `PROT_READ | PROT_WRITE`.
    ReadWrite,
}

/// One registered mapping: `[start, start + len)` in the address space.
struct Slot {
    state: AtomicU64,
    start: AtomicUsize,
    len: AtomicUsize,
    /// The mapping is writable ([`Access::ReadWrite`]).
    writable: AtomicBool,
    failed: AtomicBool,
    /// Offset in the mapping of the first address that faulted.
    fault_offset: AtomicUsize,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            state: AtomicU64::new(FREE),
            start: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            writable: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            fault_offset: AtomicUsize::new(NO_FAULT),
        }
    }
}

/// A fixed set of slots for mappings. The process has one,
/// [`REGISTRY`]; tests make small ones.
pub(crate) struct Registry<const N: usize> {
    slots: [Slot; N],
}

impl<const N: usize> Registry<N> {
    pub(crate) const fn new() -> Registry<N> {
        Registry { slots: [const { Slot::new() }; N] }
    }

    /// Claims a free slot for `[start, start + len)`, mapped with `access`;
    /// `None` when all are taken.
    pub(crate) fn claim(&self, start: usize, len: usize, access: Access) -> Option<usize> {
        for (index, slot) in self.slots.iter().enumerate() {
            let state = slot.state.load(Ordering::Relaxed);
            if state & STATE_MASK != FREE {
                continue;
            }
            let claiming = (((state >> 2) + 1) << 2) | CLAIMING;
            if slot.state.compare_exchange(state, claiming, Ordering::Acquire, Ordering::Relaxed).is_err() {
                continue;
            }
            // Sequence-lock writer: the new range is stored after the
            // CLAIMING state is visible and before the LIVE state is.
            fence(Ordering::Release);
            slot.start.store(start, Ordering::Relaxed);
            slot.len.store(len, Ordering::Relaxed);
            slot.writable.store(access == Access::ReadWrite, Ordering::Relaxed);
            slot.failed.store(false, Ordering::Relaxed);
            slot.fault_offset.store(NO_FAULT, Ordering::Relaxed);
            slot.state.store((claiming & !STATE_MASK) | LIVE, Ordering::Release);
            return Some(index);
        }
        None
    }

    /// Frees slot `index` (claimed by [`claim`](Self::claim)).
    pub(crate) fn release(&self, index: usize) {
        let slot = &self.slots[index];
        let state = slot.state.load(Ordering::Relaxed);
        debug_assert_eq!(state & STATE_MASK, LIVE, "releasing a slot that is not live");
        slot.state.store(state & !STATE_MASK, Ordering::Release);
    }

    /// The slot whose live mapping holds `addr`, and how that mapping may
    /// be accessed. Async-signal-safe.
    fn find(&self, addr: usize) -> Option<(usize, Access)> {
        self.slots.iter().enumerate().find_map(|(index, slot)| {
            let before = slot.state.load(Ordering::Acquire);
            if before & STATE_MASK != LIVE {
                return None;
            }
            let start = slot.start.load(Ordering::Relaxed);
            let len = slot.len.load(Ordering::Relaxed);
            let writable = slot.writable.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            // Changed hands while being read: not a consistent range.
            let consistent = slot.state.load(Ordering::Relaxed) == before;
            let access = if writable { Access::ReadWrite } else { Access::ReadOnly };
            (consistent && addr >= start && addr - start < len).then_some((index, access))
        })
    }

    /// Marks slot `index` failed at `addr`. Async-signal-safe.
    fn mark_failed(&self, index: usize, addr: usize) {
        let slot = &self.slots[index];
        let offset = addr - slot.start.load(Ordering::Relaxed);
        let _ = slot.fault_offset.compare_exchange(NO_FAULT, offset, Ordering::SeqCst, Ordering::SeqCst);
        slot.failed.store(true, Ordering::SeqCst);
    }

    /// The offset in slot `index`'s mapping of the first faulting address,
    /// if a fault was recorded.
    pub(crate) fn failure(&self, index: usize) -> Option<usize> {
        let slot = &self.slots[index];
        if !slot.failed.load(Ordering::SeqCst) {
            return None;
        }
        Some(slot.fault_offset.load(Ordering::SeqCst))
    }

    /// Slots in use.
    pub(crate) fn live(&self) -> usize {
        self.slots.iter().filter(|slot| slot.state.load(Ordering::Relaxed) & STATE_MASK == LIVE).count()
    }
}

/// The registry the `SIGBUS` handler consults.
static REGISTRY: Registry<MAX_GUARDED_MAPPINGS> = Registry::new();

/// A mapping's place in the registry. Drop it (which frees the slot) before
/// the mapping is unmapped: a slot that outlived its mapping could make the
/// handler put a zero page over whatever is mapped there next.
#[derive(Debug)]
pub(crate) struct Registration {
    index: usize,
}

impl Registration {
    /// Registers the mapping `[start, start + len)`, mapped with `access`,
    /// installing the handler first if needed. `None` when the handler
    /// cannot be installed or every slot is taken: then the file must not
    /// be accessed through the mapping.
    pub(crate) fn new(start: *const u8, len: usize, access: Access) -> Option<Registration> {
        if !handler::install() {
            return None;
        }
        REGISTRY.claim(start as usize, len, access).map(|index| Registration { index })
    }

    /// `Some(offset)` once an access to the mapping faulted (the offset in
    /// the mapping of the first faulting address); stays set for the
    /// mapping's life. Call it after the access it is meant to cover.
    pub(crate) fn failure(&self) -> Option<usize> {
        // The fault is handled on this thread, inside the access before
        // this call; keep the compiler from moving that access after the
        // check.
        compiler_fence(Ordering::SeqCst);
        REGISTRY.failure(self.index)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        REGISTRY.release(self.index);
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod handler {
    //! The `SIGBUS` handler and its installation.

    use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
    use std::sync::Once;

    use super::{Access, REGISTRY};

    /// Whether [`install`] succeeded.
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    static INSTALL: Once = Once::new();
    /// The system's page size, read before the handler is installed
    /// (`sysconf` is not async-signal-safe).
    static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);
    /// The `SIGBUS` action before ours: its handler and flags.
    static PREVIOUS_HANDLER: AtomicUsize = AtomicUsize::new(libc::SIG_DFL);
    static PREVIOUS_FLAGS: AtomicI32 = AtomicI32::new(0);

    /// Installs the handler once per process; true when it is in place.
    pub(super) fn install() -> bool {
        INSTALL.call_once(|| {
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let Ok(page) = usize::try_from(page) else { return };
            if !page.is_power_of_two() {
                return;
            }
            PAGE_SIZE.store(page, Ordering::Relaxed);
            // SAFETY: `sigaction` is plain old data; all-zero is a valid
            // value (no handler, empty mask, no flags) that is filled in below.
            let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: a null new action only reads the current one into
            // `previous`, a valid, writable sigaction.
            if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) } != 0 {
                return;
            }
            // Stored before ours is installed, so the handler never sees
            // a stale previous action.
            remember(&previous);
            // SAFETY: as above.
            let mut ours: libc::sigaction = unsafe { std::mem::zeroed() };
            let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = on_sigbus;
            ours.sa_sigaction = handler as *const () as usize;
            ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: `ours.sa_mask` is a valid sigset_t to initialise.
            unsafe { libc::sigemptyset(&mut ours.sa_mask) };
            // SAFETY: `ours` is a fully initialised action whose handler
            // has the SA_SIGINFO signature; `previous` is writable.
            if unsafe { libc::sigaction(libc::SIGBUS, &ours, &mut previous) } != 0 {
                return;
            }
            // Someone may have changed the action between the two calls.
            remember(&previous);
            INSTALLED.store(true, Ordering::Release);
        });
        INSTALLED.load(Ordering::Acquire)
    }

    fn remember(action: &libc::sigaction) {
        PREVIOUS_FLAGS.store(action.sa_flags, Ordering::Release);
        PREVIOUS_HANDLER.store(action.sa_sigaction, Ordering::Release);
    }

    /// The `SIGBUS` handler. Async-signal-safe: atomics and system calls only.
    extern "C" fn on_sigbus(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
        // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t.
        let code = unsafe { (*info).si_code };
        // si_code > 0: raised by the kernel for a fault, so si_addr is the
        // faulting address (a SIGBUS sent with kill has si_code <= 0).
        if code > 0 {
            // SAFETY: as above; for a kernel-raised SIGBUS the sigfault
            // member of the union is the one filled in.
            let addr = unsafe { (*info).si_addr() } as usize;
            if let Some((index, access)) = REGISTRY.find(addr) {
                // Marked before the zero page appears: a thread that touches
                // it without faulting sees the mark afterwards.
                REGISTRY.mark_failed(index, addr);
                if map_zero_page(addr, access) {
                    return;
                }
            }
        }
        forward(signal, info, context, code);
    }

    /// Maps an anonymous page of zeros over the page holding `addr`,
    /// read-only or, for a writable mapping, readable and writable (a store
    /// retried on it lands in memory nobody reads); true on success. Keeps
    /// `errno` as it was.
    fn map_zero_page(addr: usize, access: Access) -> bool {
        let page = PAGE_SIZE.load(Ordering::Relaxed);
        let page_start = addr & !(page - 1);
        let protection = match access {
            Access::ReadOnly => libc::PROT_READ,
            Access::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
        };
        // SAFETY: errno is thread-local; its location is always valid.
        let saved_errno = unsafe { *libc::__errno_location() };
        // SAFETY: a raw mmap system call replacing one page that lies
        // inside a live registered mapping (the registry says so, and a
        // mapping is unregistered before it is unmapped) with anonymous
        // memory of the mapping's own protection; the owner's munmap later
        // covers the replaced page as well.
        let result = unsafe {
            libc::syscall(
                libc::SYS_mmap,
                page_start,
                page,
                protection,
                libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1 as libc::c_long,
                0 as libc::c_long,
            )
        };
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = saved_errno };
        result == page_start as libc::c_long
    }

    /// Hands a `SIGBUS` that is not ours to the previous action.
    fn forward(
        signal: libc::c_int,
        info: *mut libc::siginfo_t,
        context: *mut libc::c_void,
        code: libc::c_int,
    ) {
        let handler = PREVIOUS_HANDLER.load(Ordering::Acquire);
        let flags = PREVIOUS_FLAGS.load(Ordering::Acquire);
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            // SAFETY: `sigaction` is plain old data; all-zero is valid.
            let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
            action.sa_sigaction = handler;
            // SAFETY: sigemptyset and sigaction are async-signal-safe; the
            // action is fully initialised and the old one is not wanted.
            unsafe {
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
            }
            // A fault repeats when the handler returns, now under the
            // restored action. A SIGBUS that was sent does not repeat by
            // itself: send it again (it is delivered once this returns).
            if code <= 0 && handler == libc::SIG_DFL {
                // SAFETY: raise is async-signal-safe.
                unsafe { libc::raise(libc::SIGBUS) };
            }
            return;
        }
        if flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous action was installed with SA_SIGINFO, so
            // its handler has this signature; the arguments are the ones
            // the kernel gave us.
            let previous: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(handler) };
            previous(signal, info, context);
        } else {
            // SAFETY: without SA_SIGINFO the handler takes the signal number only.
            let previous: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
            previous(signal);
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod handler {
    //! No guard on this system: every mapped read falls back to `pread`.

    /// Never installed.
    pub(super) fn install() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_claimed_released_and_reused() {
        let registry = Registry::<3>::new();
        let a = registry.claim(0x1000, 0x2000, Access::ReadOnly).unwrap();
        let b = registry.claim(0x8000, 0x1000, Access::ReadWrite).unwrap();
        assert_ne!(a, b);
        assert_eq!(registry.live(), 2);
        assert_eq!(registry.find(0x1000), Some((a, Access::ReadOnly)));
        assert_eq!(registry.find(0x2fff), Some((a, Access::ReadOnly)));
        assert_eq!(registry.find(0x3000), None, "one past the end");
        assert_eq!(registry.find(0x8800), Some((b, Access::ReadWrite)));
        assert_eq!(registry.find(0xfff), None);
        registry.release(a);
        assert_eq!(registry.live(), 1);
        assert_eq!(registry.find(0x1000), None, "a released slot matches nothing");
        let c = registry.claim(0x4000, 0x1000, Access::ReadWrite).unwrap();
        assert_eq!(c, a, "the freed slot is reused");
        assert_eq!(registry.find(0x4000), Some((c, Access::ReadWrite)), "with the new mapping's access");
        assert_eq!(registry.find(0x1000), None);
        registry.release(b);
        let d = registry.claim(0x9000, 0x1000, Access::ReadOnly).unwrap();
        assert_eq!(d, b);
        assert_eq!(registry.find(0x9000), Some((d, Access::ReadOnly)), "a writable slot reused read-only");
    }

    #[test]
    fn a_full_registry_refuses_and_frees_up() {
        let registry = Registry::<2>::new();
        let a = registry.claim(0x1000, 0x1000, Access::ReadOnly).unwrap();
        let _b = registry.claim(0x2000, 0x1000, Access::ReadWrite).unwrap();
        assert_eq!(registry.claim(0x3000, 0x1000, Access::ReadWrite), None);
        assert_eq!(registry.live(), 2);
        registry.release(a);
        assert_eq!(registry.claim(0x3000, 0x1000, Access::ReadWrite), Some(a));
    }

    #[test]
    fn a_failure_is_recorded_once_and_cleared_with_the_slot() {
        let registry = Registry::<1>::new();
        let a = registry.claim(0x10000, 0x4000, Access::ReadWrite).unwrap();
        assert_eq!(registry.failure(a), None);
        registry.mark_failed(a, 0x12345);
        registry.mark_failed(a, 0x13000);
        assert_eq!(registry.failure(a), Some(0x2345), "the first fault's offset stays");
        registry.release(a);
        let again = registry.claim(0x20000, 0x1000, Access::ReadWrite).unwrap();
        assert_eq!(registry.failure(again), None, "a new mapping starts unfailed");
    }

    #[test]
    fn the_process_registry_counts_registrations() {
        // Other tests in this binary map files concurrently, so only this
        // test's own registration is certain.
        let page = [0u8; 16];
        let registration = Registration::new(page.as_ptr(), page.len(), Access::ReadOnly);
        if cfg!(any(target_os = "linux", target_os = "android")) {
            let registration = registration.expect("a slot is free");
            assert!(guarded_mappings() >= 1);
            assert_eq!(registration.failure(), None);
        } else {
            assert!(registration.is_none());
        }
    }
}
