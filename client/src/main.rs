//! The `acd` command (not built yet).

fn main() -> std::process::ExitCode {
    eprintln!(
        "{}: the client is not implemented yet; use acd-mock for now",
        acd_client::PROGRAM
    );
    std::process::ExitCode::FAILURE
}
