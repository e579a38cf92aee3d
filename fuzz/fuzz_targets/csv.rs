//! The `.csv` reader on arbitrary bytes: all columns, a selection (the first column by
//! name, as `file.csv:NAME`), and labels.
#![no_main]

use genot_io::table::{read_labels_from, read_points_from};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(x) = read_points_from(data, None) {
        // Every value came from a cell of the input.
        assert!(x.len() <= data.len());
    }
    let first = data
        .split(|&b| b == b',' || b == b'\n')
        .next()
        .map(|f| String::from_utf8_lossy(f).trim().to_string())
        .unwrap_or_default();
    let sel = vec![first];
    let _ = read_points_from(data, Some(&sel));
    let _ = read_labels_from(data, None, "f.csv");
    let _ = read_labels_from(data, Some(&sel), "f.csv");
});
