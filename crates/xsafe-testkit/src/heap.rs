//! Peak heap of a piece of code, for the memory benchmarks: a bench makes
//! [`Counting`] its global allocator and measures with [`measure`].
//!
//! ```text
//! #[global_allocator]
//! static ALLOCATOR: xsafe_testkit::heap::Counting = xsafe_testkit::heap::Counting;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The system allocator, counting the bytes in use and their peak.
pub struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator as given; the
// counts are only bookkeeping beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as given; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as given; `ptr` came from `alloc` above.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

/// Runs `f` and returns its value, the heap it took at its peak beyond
/// what was in use before, and its wall time. Counts only where
/// [`Counting`] is the global allocator (otherwise the heap is 0).
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, Duration) {
    let base = IN_USE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let started = Instant::now();
    let value = f();
    let elapsed = started.elapsed();
    (value, PEAK.load(Ordering::Relaxed) - base, elapsed)
}
