//! Replays every committed corpus input through its target (no fuzzing): an input that once
//! crashed a target is in its corpus, so the crash stays fixed.

use std::path::Path;

#[test]
fn every_committed_corpus_input_runs_through_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
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
