//! The `.npy` reader on arbitrary bytes: 1-D, 2-D and 3-D decodes (the CLI reads points as
//! 2-D or 1-D, predictions as 3-D). An accepted file holds the data it decodes to.
#![no_main]

use genot_io::npy::decode;
use libfuzzer_sys::fuzz_target;
use ndarray::{Ix1, Ix2, Ix3};

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = decode::<Ix2>(data) {
        assert!(a.len() * 4 <= data.len());
    }
    if let Ok(a) = decode::<Ix1>(data) {
        assert!(a.len() * 4 <= data.len());
    }
    if let Ok(a) = decode::<Ix3>(data) {
        assert!(a.len() * 4 <= data.len());
    }
});
