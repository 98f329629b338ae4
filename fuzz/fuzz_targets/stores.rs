//! Every store parses arbitrary bytes without panicking, and whatever it accepts it emits.
#![no_main]
use keytap_core::stores::{Format, StoreOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for format in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini, Format::Binary] {
        let store = format.store(&StoreOptions::default());
        if let Ok(docs) = store.load_plain(data) {
            let _ = store.emit_plain(&docs);
        }
        if let Ok((docs, Some(meta))) = store.load_encrypted(data) {
            let _ = store.emit_encrypted(&docs, &meta);
            let _ = keytap_core::metadata::Metadata::from_branch(&meta);
        }
    }
});
