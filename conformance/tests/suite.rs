//! The whole conformance suite under `cargo test`, against the in-process mock: one test per
//! check (libtest-mimic), so CI runs every check on every change.

use std::sync::Arc;
use std::time::Duration;

use acd_conformance::cases;
use acd_conformance::runner::{Verdict, run_one};
use acd_conformance::target::{ConnectOptions, Target, TargetSpec};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Arc::new(r),
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let seed = 42;
    let target: Arc<tokio::sync::OnceCell<Arc<Target>>> = Arc::new(tokio::sync::OnceCell::new());
    let trials = cases::all()
        .into_iter()
        .map(|check| {
            let runtime = runtime.clone();
            let target = target.clone();
            let name = check.id();
            Trial::test(name, move || {
                runtime.block_on(async {
                    let target = target
                        .get_or_try_init(|| async {
                            let options = ConnectOptions::new(seed);
                            Target::connect(&TargetSpec::Mock, &options)
                                .await
                                .map(Arc::new)
                        })
                        .await
                        .map_err(|e| {
                            Failed::from(format!("the embedded mock did not start: {e}"))
                        })?;
                    let result =
                        run_one(target, &check, seed, None, Duration::from_secs(120)).await;
                    match result.verdict {
                        Verdict::Pass | Verdict::XFail(_) => Ok(()),
                        // The embedded mock has every capability: a skip here is a broken check.
                        Verdict::Skip(why) => {
                            Err(Failed::from(format!("skipped on the embedded mock: {why}")))
                        }
                        Verdict::Fail(m) | Verdict::XPass(m) | Verdict::Error(m) => {
                            Err(Failed::from(m))
                        }
                    }
                })
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
