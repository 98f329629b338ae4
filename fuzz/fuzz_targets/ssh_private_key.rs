//! `keytap_core::fuzz_targets::ssh_private_key` (the body lives in the core so that the corpus
//! replays in the ordinary test suite), on a deep stack like the CLI's.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    keytap_core::stack::with_deep_stack(|| keytap_core::fuzz_targets::ssh_private_key(data));
});
