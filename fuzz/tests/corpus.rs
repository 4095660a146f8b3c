//! Replays every committed corpus input through its target (no fuzzing): an input that once
//! crashed a target is in its corpus, so the crash stays fixed.

use std::path::Path;

#[test]
fn every_committed_corpus_input_runs_through_its_target() {
    // Read at run time: a test binary reused from a build in another checkout would otherwise
    // look in that checkout.
    let package = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets the package dir");
    let root = Path::new(&package).join("corpus");
    let mut inputs = 0;
    for (name, target) in combray_fuzz::TARGETS {
        let directory = root.join(name);
        let entries = std::fs::read_dir(&directory)
            .unwrap_or_else(|e| panic!("{} has no corpus: {e}", directory.display()));
        for entry in entries {
            let path = entry.expect("a corpus entry").path();
            let data = std::fs::read(&path).expect("a corpus file");
            target(&data);
            inputs += 1;
        }
    }
    assert!(
        inputs >= combray_fuzz::TARGETS.len(),
        "every target has seeds"
    );
}
