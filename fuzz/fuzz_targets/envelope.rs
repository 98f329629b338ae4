//! `ENC[AES256_GCM,...]` envelopes and tree paths: errors, never panics.
#![no_main]
use keytap_core::cipher::ValueCipher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let mut cipher = ValueCipher::new(&[7; 32]);
        let _ = cipher.decrypt(s, "a:");
        let _ = keytap_core::treepath::parse(s);
    }
});
