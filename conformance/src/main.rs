//! The `acd-conformance` command (not built yet).

fn main() -> std::process::ExitCode {
    eprintln!(
        "{}: the suite is not implemented yet; run `cargo run -p acd-mock` to start the mock",
        acd_conformance::PROGRAM
    );
    std::process::ExitCode::FAILURE
}
