//! Accepting HTTP connections, plain or over TLS, for the router: each request learns its
//! client's address and the scheme it came in on ([`Scheme`]); a client that has not sent its
//! request head within [`HEADER_READ_TIMEOUT`] is dropped, so half-sent requests do not pile up;
//! TLS connections may speak HTTP/2. On shutdown, open requests get up to a limit to finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long a client has to send its request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections get to finish at shutdown.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(120);

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme(pub &'static str);

impl Scheme {
    pub fn is_https(self) -> bool {
        self.0 == "https"
    }
}

/// Serves `router` on `listener` (over TLS with `tls`) until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let scheme = Scheme(if tls.is_some() { "https" } else { "http" });
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => { tracing::warn!("accepting a connection: {e}"); continue; }
            },
            _ = shutdown.cancelled() => break,
        };
        let (acceptor, router, watcher) = (acceptor.clone(), router.clone(), graceful.watcher());
        tokio::spawn(async move {
            // Proxied responses otherwise stall ~40 ms on delayed ACKs (Nagle).
            let _ = stream.set_nodelay(true);
            let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                request.extensions_mut().insert(scheme);
                router.clone().oneshot(request)
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
            // hyper's header timeout starts at the first byte: a connection that sends nothing is
            // dropped here (a TLS one by the handshake's timeout below).
            if acceptor.is_none()
                && tokio::time::timeout(HEADER_READ_TIMEOUT, stream.peek(&mut [0u8; 1])).await.is_err()
            {
                return tracing::debug!("connection from {peer}: nothing sent within {HEADER_READ_TIMEOUT:?}");
            }
            let served = match acceptor {
                None => watcher.watch(builder.serve_connection_with_upgrades(TokioIo::new(stream), service)).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await;
                    let tls = match handshake {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => return tracing::debug!("TLS handshake with {peer}: {e}"),
                        Err(_) => return tracing::debug!("TLS handshake with {peer}: timed out"),
                    };
                    watcher.watch(builder.serve_connection_with_upgrades(TokioIo::new(tls), service).into_owned()).await
                }
            };
            if let Err(e) = served {
                tracing::debug!("connection from {peer}: {e}");
            }
        });
    }
    if tokio::time::timeout(SHUTDOWN_LIMIT, graceful.shutdown()).await.is_err() {
        tracing::warn!("some {} connections were still open at shutdown", scheme.0);
    }
    Ok(())
}
