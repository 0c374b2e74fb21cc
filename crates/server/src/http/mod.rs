//! Smart HTTP (what `git http-backend` serves): the same repositories and the same
//! upload-pack / receive-pack sessions as git://, over HTTP/1.1 or HTTPS, with Basic
//! authentication and per-repository permissions.
//!
//! - [`route`]: which repository and service a method, path and query name (pure).
//! - [`auth`], [`users`], [`keystone`]: who the client is (users file of argon2 hashes, Keystone v3).
//! - [`access`]: what that user may do with that repository (`[access "PATTERN"]` sections).
//! - [`body`]: request bodies as streamed, limited, optionally gunzipped readers; response
//!   bodies as the read end of a bounded pipe.
//! - `handler.rs`: one request, from the route to the access log line; [`HttpError`]: the
//!   4xx/5xx answers.
//! - [`tls`]: the rustls configuration when a certificate and key are given.
//!
//! Each request is stateless, as in git's smart HTTP: `GET info/refs` sends the advertisement,
//! and each `POST` carries one upload-pack round (v0/v1) or one v2 command, or one whole push.
//! A push over HTTP always needs an authenticated user with write permission; it is refused
//! (401/403) at the `info/refs` GET and again at the POST, before anything is read.

pub mod access;
pub mod auth;
pub mod body;
mod error;
mod handler;
pub mod keystone;
pub mod route;
pub mod throttle;
pub mod tls;
pub mod users;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use swiftgit_config::sections::http as http_keys;
use tokio::net::{TcpListener, TcpStream};

use crate::listener::{self, ConnectionEvents, ConnectionLimits};
use crate::observer::{Refusal, Transport};
use crate::registry::Registry;
use crate::session::receive_pack::ReceivePackOptions;
use crate::session::upload_pack::UploadPackOptions;
use access::AccessRules;
use auth::Authenticator;
pub use error::HttpError;
use throttle::{LoginLimit, LoginThrottle};

/// What the HTTP server serves and how.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Connection cap and shutdown grace period.
    pub limits: ConnectionLimits,
    /// Longest wait for a client's request headers (also the TLS handshake).
    pub header_timeout: Duration,
    /// Longest silence while a request body is read, and longest a response may wait for the
    /// client to read any of it.
    pub idle_timeout: Duration,
    /// Largest request body, in bytes as sent (before gunzipping): 413 beyond it.
    pub max_body_bytes: u64,
    /// Refuse every push.
    pub read_only: bool,
    /// Who may read and push what.
    pub access: AccessRules,
    /// How pushes are received.
    pub receive_pack: ReceivePackOptions,
    /// How fetches are served.
    pub upload_pack: UploadPackOptions,
    /// HTTPS when set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Wrong passwords an address may send before it must wait (`429`).
    pub login_limit: LoginLimit,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            limits: ConnectionLimits::default(),
            header_timeout: Duration::from_secs(
                const { http_keys::HEADER_TIMEOUT.default_number() },
            ),
            idle_timeout: Duration::from_secs(const { http_keys::IDLE_TIMEOUT.default_number() }),
            max_body_bytes: const { http_keys::MAX_BODY_BYTES.default_number() },
            read_only: false,
            access: AccessRules::default(),
            receive_pack: ReceivePackOptions::default(),
            upload_pack: UploadPackOptions::default(),
            tls: None,
            login_limit: LoginLimit::default(),
        }
    }
}

/// A smart HTTP server over the repositories of one [`Registry`].
#[derive(Debug)]
pub struct HttpServer {
    registry: Arc<Registry>,
    options: HttpOptions,
    auth: Authenticator,
    throttle: LoginThrottle,
    /// Becomes true when shutdown begins: idle keep-alive connections then close.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl HttpServer {
    pub fn new(
        registry: Arc<Registry>,
        options: HttpOptions,
        auth: Authenticator,
    ) -> Arc<HttpServer> {
        Arc::new(HttpServer {
            registry,
            throttle: LoginThrottle::new(options.login_limit),
            options,
            auth,
            stopping: tokio::sync::watch::Sender::new(false),
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.options.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Serves `listener` (already bound) until `shutdown` completes, then lets requests in
    /// flight finish as [`listener::serve`] does.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let limits = self.options.limits.clone();
        let stopping = self.stopping.clone();
        let shutdown = async move {
            shutdown.await;
            stopping.send_replace(true);
        };
        let events = ConnectionEvents {
            transport: Transport::Http,
            observer: Arc::clone(self.registry.observer()),
        };
        listener::serve(listener, limits, events, shutdown, move |stream, peer| {
            let server = Arc::clone(&self);
            async move { server.handle_connection(stream, peer).await }
        })
        .await;
    }

    /// Serves one connection (several requests with keep-alive) to its end.
    pub async fn handle_connection(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        match self.options.tls.clone() {
            None => self.serve_http(stream, peer).await,
            Some(config) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                let handshake =
                    tokio::time::timeout(self.options.header_timeout, acceptor.accept(stream));
                match handshake.await {
                    Ok(Ok(tls)) => return self.serve_http(tls, peer).await,
                    Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
                let observer = self.registry.observer();
                observer.connection_refused(Transport::Http, Refusal::TlsHandshake);
            }
        }
    }

    async fn serve_http<S>(self: Arc<Self>, stream: S, peer: SocketAddr)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let server = Arc::clone(&self);
        let service = service_fn(move |request| {
            let server = Arc::clone(&server);
            async move { Ok::<_, std::convert::Infallible>(server.handle(request, peer).await) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Some(self.options.header_timeout))
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let mut stopping = self.stopping.subscribe();
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = async { drop(stopping.wait_for(|stop| *stop).await) } => {
                // Finish the request in flight, if any, then close.
                connection.as_mut().graceful_shutdown();
                connection.as_mut().await
            }
        };
        if let Err(error) = result {
            tracing::debug!(%peer, %error, "HTTP connection ended with an error");
        }
    }
}
