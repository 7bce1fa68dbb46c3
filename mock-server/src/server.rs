//! The serving loop: hyper connections over the router, with graceful shutdown, injected
//! connection resets and `CONNECT` tunnels.
//!
//! axum's own `serve` cannot drop a connection without answering, which the fault layer needs
//! ("a connection reset with no response"), so the mock runs its own accept loop: a response
//! marked by [`crate::faults::respond::reset`] becomes a service error, and hyper closes the
//! connection without writing a byte.
//!
//! `CONNECT` never reaches the router: the loop answers it (journaled like any request), and
//! with `--intercept` serves the TLS tunnel with a clone of the same router, through
//! [`service`] again (see [`crate::intercept`]).

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::app;
use crate::error::ApiError;
use crate::faults::respond::{InjectedReset, is_reset, service_reason};
use crate::intercept::host_allowed;
use crate::journal::journaled;
use crate::state::AppState;

/// Serves one request: `CONNECT` here, everything else through the router; a reset marker
/// becomes an error (connection dropped).
pub fn service(
    app: Router,
    state: Arc<AppState>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response,
    Error = InjectedReset,
    Future: Send,
> + Clone
+ Send {
    hyper::service::service_fn(move |request: Request<Incoming>| {
        let app = app.clone();
        let state = Arc::clone(&state);
        async move {
            let request = request.map(Body::new);
            let mut response = if request.method() == Method::CONNECT {
                let journal = state.journal.clone();
                journaled(&journal, request, |request| connect(app, state, request)).await
            } else {
                match app.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            };
            if is_reset(&response) {
                Err(InjectedReset)
            } else {
                service_reason(&mut response);
                Ok::<_, InjectedReset>(response)
            }
        }
    })
}

/// Answers `CONNECT`: a tunnel for the service's hosts when interception is on, 403 otherwise.
async fn connect(app: Router, state: Arc<AppState>, request: Request<Body>) -> Response {
    let authority = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    if state.interceptor.is_none() {
        return ApiError::Forbidden(
            "CONNECT is refused: start acd-mock with --intercept to tunnel the service's hosts"
                .into(),
        )
        .into_response();
    }
    if !host_allowed(&authority) {
        tracing::warn!(%authority, "refused CONNECT to a host the mock does not impersonate");
        return ApiError::Forbidden(format!(
            "CONNECT to {authority} is refused: acd-mock only tunnels Amazon Drive's hosts"
        ))
        .into_response();
    }
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(request).await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::warn!(%error, "CONNECT upgrade failed");
                return;
            }
        };
        let Some(interceptor) = state.interceptor.as_ref() else {
            return;
        };
        let tls = match interceptor.accept(TokioIo::new(upgraded)).await {
            Ok(tls) => tls,
            Err(error) => {
                tracing::warn!(%authority, %error, "TLS handshake in the tunnel failed (does the client trust the CA?)");
                return;
            }
        };
        connection(app, state, tls).await;
    });
    StatusCode::OK.into_response()
}

/// Serves one accepted connection (HTTP/1.1 with upgrades, or HTTP/2 with prior knowledge).
pub async fn connection<IO>(app: Router, state: Arc<AppState>, io: IO)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let builder = auto::Builder::new(TokioExecutor::new());
    if let Err(error) = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service(app, state))
        .await
    {
        tracing::debug!(%error, "connection closed");
    }
}

/// Accepts connections until `shutdown` resolves, then waits for in-flight requests to finish.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app::router(Arc::clone(&state));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: log, and keep serving.
                        tracing::warn!(%error, "accept failed");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service(app.clone(), Arc::clone(&state)))
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(error) = conn.await {
                        tracing::debug!(%error, "connection closed");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
