//! A directory of arbitrary segment, index and meta files (decoded by
//! `logstore_check::decode_directory`), opened strictly and tolerantly:
//! see `logstore_check::check_image`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Err(why) = logstore_check::check_image(&logstore_check::decode_directory(input)) {
        panic!("{why}");
    }
});
