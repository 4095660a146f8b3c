#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| combray_fuzz::block_meta(data));
