//! keytap's check of age files (sops `enc` blobs) before the age crate reads them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keytap_core::keys::agefile::checked(data);
});
