//! Large zeroed matrices whose pages are mapped up front, on huge pages where the system
//! allows.
//!
//! A fresh multi-megabyte allocation is mapped by the kernel one 4 KiB page at a time, on
//! the first write to each page: a 1024 x 1024 float32 cost matrix and its kernel take
//! 2048 page faults. In a cold `genot solve` those faults cost more system time than the
//! whole Sinkhorn loop (measured at n = m = 1024: bench/BENCHMARKS.md, issue 18). On Linux,
//! [`zeroed_matrix`] places the matrix at a 2 MiB boundary inside a slightly larger
//! allocation, asks for transparent huge pages and has the kernel populate the range in
//! one call (`madvise(MADV_HUGEPAGE)` then `madvise(MADV_POPULATE_WRITE)`, Linux 5.14+):
//! a 4 MiB matrix is then two huge pages. (The allocator's own placement is 16 bytes past
//! a page boundary, which left half of such a matrix on 4 KiB pages.) Where either advice
//! is refused, or on other systems, the pages fault in as usual. The contents are the same
//! either way.

use crate::real::Real;
use ndarray::{s, Array1, Array2};

/// Matrices below this many bytes are left to the allocator as they are.
const POPULATE_FROM: usize = 1 << 20;

/// The transparent huge page size the placement aims at (x86-64 and most aarch64 kernels).
const HUGE_PAGE: usize = 2 << 20;

/// An `n x m` matrix of zeros in standard layout whose memory pages are already mapped
/// (see the module docs).
pub fn zeroed_matrix<F: Real>(n: usize, m: usize) -> Array2<F> {
    let len = n * m;
    let size = std::mem::size_of::<F>();
    let bytes = len * size;
    if bytes < POPULATE_FROM || !cfg!(target_os = "linux") {
        return Array2::zeros((n, m));
    }
    if bytes < HUGE_PAGE {
        // No huge page fits: map the small pages in one call.
        let a = Array2::zeros((n, m));
        let (start, page) = (a.as_ptr() as usize, page_size());
        // The whole pages inside the matrix: the pages at either end may be shared with
        // other allocations.
        let lo = start.next_multiple_of(page);
        let hi = (start + bytes) / page * page;
        if hi > lo {
            populate(lo, hi - lo);
        }
        return a;
    }
    // One huge page of room to move the start to the next huge-page boundary; the pages
    // from there to the end of the allocation belong to the matrix's allocation alone. (A
    // reused allocation is zeroed by the allocator whole: the room costs that much more
    // zeroing in a warm process, at most as much as the matrix itself.)
    let pad = HUGE_PAGE / size;
    let mut whole = Array1::<F>::zeros(len + pad);
    let base = whole.as_ptr() as usize;
    let offset = (base.next_multiple_of(HUGE_PAGE) - base) / size;
    let start = base + offset * size;
    let end = (base + (len + pad) * size) / page_size() * page_size();
    populate(start, bytes.next_multiple_of(HUGE_PAGE).min(end - start));
    whole.slice_collapse(s![offset..offset + len]);
    whole
        .into_shape_with_order((n, m))
        .expect("a contiguous slice of n * m elements")
}

/// The system's base page size.
#[cfg(target_os = "linux")]
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if page > 0 {
        page as usize
    } else {
        4096
    }
}

#[cfg(not(target_os = "linux"))]
fn page_size() -> usize {
    4096
}

#[cfg(target_os = "linux")]
fn populate(start: usize, bytes: usize) {
    let (ptr, len) = (start as *mut libc::c_void, bytes);
    // SAFETY: [start, start + bytes) starts page-aligned and lies inside the live
    // allocation of the caller, which owns every page of it; both advices only change how
    // its pages are backed (huge pages, mapped now), never their contents: the kernel maps
    // zero pages for untouched memory, and keeps pages already written. A refusal (older
    // kernel, no THP) is ignored: the pages then fault in on first write.
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
    fn zeroed_matrices_hold_zeros_in_standard_layout_and_can_be_written() {
        for (n, m) in [
            (0usize, 0usize),
            (1, 1),
            (10, 100),
            (1024, 1024),
            (777, 1031),
        ] {
            let mut a: Array2<f32> = zeroed_matrix(n, m);
            assert_eq!(a.dim(), (n, m));
            assert!(a.iter().all(|&x| x == 0.0));
            let v = a.as_slice_mut().expect("standard layout");
            for (i, x) in v.iter_mut().enumerate() {
                *x = i as f32;
            }
            assert!(a.iter().enumerate().all(|(i, &x)| x == i as f32));
        }
        let w: Array2<f64> = zeroed_matrix(512, 512);
        assert!(w.iter().all(|&x| x == 0.0));
        assert!(w.is_standard_layout());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn large_matrices_start_on_a_huge_page_boundary() {
        let a: Array2<f32> = zeroed_matrix(1024, 1024);
        assert_eq!(a.as_ptr() as usize % HUGE_PAGE, 0);
        let small: Array2<f32> = zeroed_matrix(16, 16);
        assert!(small.as_slice().is_some());
    }
}
