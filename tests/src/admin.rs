//! The mock's admin API for the end-to-end tests: the typed client, the one token-minting
//! helper (async and blocking) and the one `md5_hex` of the workspace.

use std::future::Future;

pub use acd_mock::TokenResponse;
pub use acd_mock::admin::Client;
pub use acd_mock::admin_client::md5_hex;
use acd_mock::admin_client::{Created, FaultReport};
use anyhow::Context as _;

use crate::process::install_crypto_provider;

/// The typed admin client of the mock at `url` (a [`crate::process::MockProcess`]'s URL).
pub fn client(url: &str) -> anyhow::Result<Client> {
    install_crypto_provider();
    Client::new(url).context("cannot build the admin client")
}

/// Runs `future` to completion on a fresh current-thread runtime (for the tests that are not
/// async themselves).
pub fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    Ok(runtime.block_on(future))
}

/// A fresh token for the mock's default account (`POST /_mock/tokens`).
pub async fn mint_async(url: &str) -> anyhow::Result<TokenResponse> {
    let token = client(url)?
        .mint_token(&Default::default())
        .await
        .context("cannot mint a token")?;
    Ok(token)
}

/// [`mint_async`] for the tests that are not async.
pub fn mint(url: &str) -> anyhow::Result<TokenResponse> {
    block_on(mint_async(url))?
}

/// Seeds the mock at `url` (`POST /_mock/seed`), for the tests that are not async; panics
/// with the mock's answer when the seed is refused (a test's setup cannot go on without it).
pub fn seed(url: &str, request: &acd_mock::admin_client::SeedRequest) -> Vec<Created> {
    let admin = client(url).unwrap_or_else(|e| panic!("{e:#}"));
    block_on(admin.seed(request))
        .and_then(|answer| answer.context("POST /_mock/seed"))
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// Adds fault rules given as JSON (`POST /_mock/faults`) for the tests that are not async;
/// their ids. Panics with the mock's answer when a rule is refused.
pub fn add_faults(url: &str, rules: &serde_json::Value) -> Vec<String> {
    let admin = client(url).unwrap_or_else(|e| panic!("{e:#}"));
    block_on(admin.add_faults_json(rules))
        .and_then(|answer| answer.context("POST /_mock/faults"))
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// A fault rule's report (`GET /_mock/faults/{id}`) for the tests that are not async.
pub fn fault(url: &str, id: &str) -> FaultReport {
    let admin = client(url).unwrap_or_else(|e| panic!("{e:#}"));
    block_on(admin.fault(id))
        .and_then(|answer| answer.with_context(|| format!("GET /_mock/faults/{id}")))
        .unwrap_or_else(|e| panic!("{e:#}"))
}
