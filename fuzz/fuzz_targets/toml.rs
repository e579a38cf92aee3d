//! The config file's first stage (TOML text to keys and values) on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = genot_io::config_toml::entries_of_bytes(data);
});
