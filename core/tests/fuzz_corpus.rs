//! Replays the fuzz targets' committed seed corpus (`fuzz/corpus/<target>/`) and every
//! past finding (`fuzz/regressions/<target>/`) through the same target bodies the fuzzer
//! runs (`keytap_core::fuzz_targets`), so they are checked on every test run without a
//! sanitizer build. `scripts/fuzz.sh` does the fuzzing itself.

use std::path::Path;

#[test]
fn every_corpus_and_regression_input_passes_its_target() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for (name, target) in keytap_core::fuzz_targets::TARGETS {
        let mut seeds = 0;
        for kind in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(name)) else {
                continue;
            };
            for entry in entries.flatten() {
                let data = std::fs::read(entry.path()).unwrap();
                let path = entry.path();
                let outcome = std::panic::catch_unwind(|| {
                    keytap_core::stack::with_deep_stack(|| target(&data))
                });
                assert!(outcome.is_ok(), "{name}: {} fails", path.display());
                seeds += 1;
            }
        }
        assert!(seeds > 0, "{name} has no committed seed corpus");
        replayed += seeds;
    }
    assert!(replayed > 100, "only {replayed} inputs");
}
