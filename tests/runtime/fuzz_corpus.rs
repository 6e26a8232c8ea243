//! Every input the fuzzers kept (`fuzz/corpus/<target>/`, crashes they found included) run
//! through the same code as the fuzz targets (`fuzz/harness.rs`): none may panic.

#[path = "../../fuzz/harness.rs"]
mod harness;

use crate::support::repo;

#[test]
fn every_fuzz_corpus_input_runs_without_a_panic() {
    #[cfg(feature = "video")]
    let targets = harness::TARGETS.iter().chain(harness::VIDEO_TARGETS);
    #[cfg(not(feature = "video"))]
    let targets = harness::TARGETS.iter();
    for (target, run) in targets {
        let folder = repo().join("fuzz/corpus").join(target);
        let mut inputs: Vec<_> = std::fs::read_dir(&folder)
            .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        inputs.sort();
        assert!(inputs.len() >= 10, "{target}: a corpus of {} inputs is too small to mean much", inputs.len());
        for input in &inputs {
            let bytes = std::fs::read(input).unwrap();
            if std::panic::catch_unwind(|| run(&bytes)).is_err() {
                panic!("{target}: {} panics", input.display());
            }
        }
    }
}
