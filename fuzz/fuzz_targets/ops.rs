//! Operation sequences with power cuts, checked against a model; the input
//! bytes are the choices: see `logstore_check::check_ops`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use logstore_check::ByteSource;

fuzz_target!(|input: &[u8]| {
    if let Err(why) = logstore_check::check_ops(&mut ByteSource::new(input)) {
        panic!("{why}");
    }
});
