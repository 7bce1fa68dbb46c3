//! The serving loop: hyper connections over the router, with graceful shutdown and injected
//! connection resets.
//!
//! axum's own `serve` cannot drop a connection without answering, which the fault layer needs
//! ("a connection reset with no response"), so the mock runs its own accept loop: a response
//! marked by [`crate::faults::respond::reset`] becomes a service error, and hyper closes the
//! connection without writing a byte.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::app::{self, AppState};
use crate::faults::respond::{InjectedReset, is_reset, service_reason};

/// Serves one request through the router; a reset marker becomes an error (connection dropped).
pub fn service(
    app: Router,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response,
    Error = InjectedReset,
    Future: Send,
> + Clone
+ Send {
    hyper::service::service_fn(move |request: Request<Incoming>| {
        let app = app.clone();
        async move {
            let mut response = match app.oneshot(request.map(Body::new)).await {
                Ok(response) => response,
                Err(never) => match never {},
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

/// Serves one accepted connection (HTTP/1.1 with upgrades, or HTTP/2 with prior knowledge).
pub async fn connection<IO>(app: Router, io: IO)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let builder = auto::Builder::new(TokioExecutor::new());
    if let Err(error) = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service(app))
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
    let app = app::router(state);
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
                    .serve_connection_with_upgrades(TokioIo::new(stream), service(app.clone()))
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
