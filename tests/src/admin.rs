//! The mock's admin API for the end-to-end tests: the typed client, the one token-minting
//! helper (async and blocking) and the one `md5_hex` of the workspace.

use std::future::Future;

pub use acd_mock::TokenResponse;
pub use acd_mock::admin::Client;
pub use acd_mock::admin_client::md5_hex;
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
