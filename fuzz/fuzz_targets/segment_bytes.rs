//! Arbitrary bytes as one segment file of the fixture log (the first byte
//! picks which segment), opened strictly and tolerantly, read, iterated,
//! replayed and verified: see `logstore_check::check_image`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Err(why) = logstore_check::check_image(&logstore_check::segment_image(input)) {
        panic!("{why}");
    }
});
