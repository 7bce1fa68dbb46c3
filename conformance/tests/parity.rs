//! The mock's recorded responses (`conformance/snapshots/mock/`) must match what it answers now:
//! a change in the mock's behaviour fails here until the snapshots are regenerated, so it shows
//! up as a diff in review. Recorded and compared the same way: the whole suite, one check at a
//! time (`--jobs 1`), seed 42; account-wide values (usage, quota, the trash) are recorded as
//! shapes only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use acd_conformance::cases;
use acd_conformance::record::Recorder;
use acd_conformance::runner::{RunOptions, run};
use acd_conformance::target::{ConnectOptions, Target, TargetSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_still_answers_as_recorded() {
    let options = ConnectOptions::new(42);
    let target = Arc::new(Target::connect(&TargetSpec::Mock, &options).await.unwrap());
    let recorder = Arc::new(Recorder::default());
    let run_options = RunOptions {
        // As the snapshots were recorded (the command below): one check at a time.
        jobs: 1,
        fail_fast: false,
        seed: 42,
        timeout: Duration::from_secs(120),
    };
    let results = run(target, &cases::all(), &run_options, Some(recorder.clone())).await;
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.verdict.is_failure())
        .map(|r| format!("{}/{}: {}", r.area, r.name, r.verdict.message()))
        .collect();
    assert!(failed.is_empty(), "checks failed: {failed:#?}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots/mock");
    let ran: Vec<String> = results.iter().map(|r| r.id()).collect();
    let diffs = recorder.compare(&dir, &ran).unwrap();
    assert!(
        diffs.is_empty(),
        "the mock's answers changed; review these differences, then regenerate with\n  rm -r conformance/snapshots/mock && cargo run -p acd-conformance -- --seed 42 --jobs 1 --record conformance/snapshots/mock\n{}",
        diffs.join("\n")
    );
}
