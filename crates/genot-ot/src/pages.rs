//! Large zeroed buffers whose pages are mapped up front.
//!
//! A fresh multi-megabyte allocation is mapped by the kernel one 4 KiB page at a time, on
//! the first write to each page: a 1024 x 1024 float32 cost matrix and its kernel take
//! 2048 page faults. In a cold `genot solve` those faults cost more system time than the
//! whole Sinkhorn loop (measured at n = m = 1024: bench/BENCHMARKS.md, issue 18). On Linux,
//! [`zeroed`] asks for transparent huge pages and has the kernel populate the range in one
//! call (`madvise(MADV_HUGEPAGE)` then `madvise(MADV_POPULATE_WRITE)`, Linux 5.14+); where
//! either is refused, or on other systems, the buffer is an ordinary zeroed `Vec` and pages
//! fault in as usual. The contents are the same either way.

use crate::real::Real;

/// Buffers below this many bytes are left to the allocator as they are.
const POPULATE_FROM: usize = 1 << 20;

/// A vector of `len` zeros whose memory pages are already mapped (see the module docs).
pub fn zeroed<F: Real>(len: usize) -> Vec<F> {
    let v = vec![F::zero(); len];
    let bytes = len * std::mem::size_of::<F>();
    if bytes >= POPULATE_FROM {
        populate(v.as_ptr() as usize, bytes);
    }
    v
}

#[cfg(target_os = "linux")]
fn populate(start: usize, bytes: usize) {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = if page > 0 { page as usize } else { 4096 };
    // The whole pages inside the buffer: madvise takes a page-aligned start, and the pages
    // at either end may be shared with other allocations (populating them is harmless, but
    // advising them would change how someone else's memory is backed).
    let lo = start.div_ceil(page) * page;
    let hi = (start + bytes) / page * page;
    if hi <= lo {
        return;
    }
    let (ptr, len) = (lo as *mut libc::c_void, hi - lo);
    // SAFETY: [lo, hi) lies inside the live allocation `v` of the caller; both advices only
    // change how its pages are backed (huge pages, mapped now), never their contents: the
    // kernel maps zero pages for untouched memory, and keeps pages already written. A
    // refusal (older kernel, no THP) is ignored: the pages then fault in on first write.
    unsafe {
        libc::madvise(ptr, len, libc::MADV_HUGEPAGE);
        libc::madvise(ptr, len, libc::MADV_POPULATE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn populate(_start: usize, _bytes: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_buffers_hold_zeros_and_can_be_written() {
        for len in [0usize, 1, 1000, (3 << 20) / 4 + 17] {
            let mut v: Vec<f32> = zeroed(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 0.0));
            for (i, x) in v.iter_mut().enumerate() {
                *x = i as f32;
            }
            assert!(v.iter().enumerate().all(|(i, &x)| x == i as f32));
        }
        let w: Vec<f64> = zeroed(1 << 18);
        assert!(w.iter().all(|&x| x == 0.0));
    }
}
