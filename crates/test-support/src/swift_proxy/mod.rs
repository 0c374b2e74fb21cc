//! A small HTTP/1.1 reverse proxy to put in front of Swift in fault tests: it forwards every
//! request to one upstream (a real Swift) and can hold request bodies back for a random while
//! (a congested link, which widens the races between writers) or answer 503 to everything
//! (Swift unavailable). The faults can be changed while it runs.
//!
//! The proxy runs on its own thread with its own single-threaded tokio runtime, so that sync
//! tests can use it, and stops when the [`SwiftProxy`] is dropped. Swift's v1 auth response
//! names the storage URL the client talks to afterwards; the proxy rewrites it to its own
//! address (`rewrite.rs`), or the client would bypass the proxy once authenticated.
//! [`config_through_proxy`] writes a swiftgit config whose `auth_url` goes through the proxy.
//! Keystone (v2/v3) catalogs, which carry the storage URL in a JSON body, are not rewritten.
//!
//! The serving side (accept loop, forwarding, delayed bodies) is in `forward.rs`; the pure
//! header and config rewrites are in `rewrite.rs`.

mod forward;
mod rewrite;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rand::Rng;
use reqwest::Url;
use tokio::sync::oneshot;

use forward::Shared;

/// How long the proxy keeps an idle connection to upstream for reuse: well under the 60 s after
/// which Swift's proxy server closes idle keep-alive connections (as swiftgit's own client).
const UPSTREAM_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// The faults a [`SwiftProxy`] applies to the requests it receives. The default forwards every
/// request at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyFaults {
    /// Before forwarding the first byte of a non-empty request body, wait this many
    /// milliseconds, drawn uniformly from the range for each request; the rest of the body then
    /// streams as it comes. Requests without a body are not delayed. An empty range waits
    /// exactly its start (`40..40` is 40 ms, `0..0` no delay).
    pub body_delay_ms: Range<u64>,
    /// Answer every request with 503 Service Unavailable at once, without contacting upstream.
    pub refuse: bool,
}

impl ProxyFaults {
    /// One draw from [`body_delay_ms`](Self::body_delay_ms).
    fn body_delay(&self) -> Duration {
        let range = &self.body_delay_ms;
        let ms = if range.is_empty() {
            range.start
        } else {
            rand::rng().random_range(range.clone())
        };
        Duration::from_millis(ms)
    }
}

/// A reverse proxy listening on `127.0.0.1` in front of one Swift, with [`ProxyFaults`]. It
/// serves HTTP/1.1 with keep-alive, streams bodies both ways, and forwards method, path, query
/// and headers (except `Host` and the hop-by-hop ones). A request upstream does not answer gets
/// a 502 whose body says why. Dropping it stops the proxy and closes its connections.
pub struct SwiftProxy {
    shared: Arc<Shared>,
    url: String,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SwiftProxy {
    /// Listens on `127.0.0.1:0` and forwards to `upstream` (scheme, host and port, e.g.
    /// `http://127.0.0.1:18080`) with `faults` in force. Panics if `upstream` is not such a URL
    /// or the proxy cannot start (no port, no thread): a fault test cannot run without it.
    pub fn start(upstream: &str, faults: ProxyFaults) -> SwiftProxy {
        let upstream_url = Url::parse(upstream)
            .unwrap_or_else(|e| panic!("swift proxy upstream {upstream:?} is not a URL: {e}"));
        assert!(
            upstream_url.scheme() == "http"
                && upstream_url.path() == "/"
                && upstream_url.query().is_none(),
            "swift proxy upstream {upstream:?} must be http://host:port with no path",
        );
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(UPSTREAM_POOL_IDLE_TIMEOUT)
            .build()
            .expect("holds because a client without TLS settings or proxies always builds");

        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("holds because the loopback interface has free ports");
        let port = listener
            .local_addr()
            .expect("holds because a bound listener has an address")
            .port();
        listener
            .set_nonblocking(true)
            .expect("holds because a fresh socket can be made non-blocking");
        let url = format!("http://127.0.0.1:{port}");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("holds because a current-thread runtime needs only a timer and an epoll fd");
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)
                .expect("holds because the listener is non-blocking and a runtime is entered")
        };

        let shared = Arc::new(Shared {
            proxy: Url::parse(&url).expect("holds because the proxy URL is http://ip:port"),
            upstream: upstream_url,
            client,
            faults: Mutex::new(faults),
            forwarded: AtomicU64::new(0),
        });
        let (shutdown, stop) = oneshot::channel();
        let serving = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("swift-proxy-{port}"))
            .spawn(move || runtime.block_on(forward::serve(listener, serving, stop)))
            .expect("holds unless the process is out of threads");
        SwiftProxy {
            shared,
            url,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The proxy's base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Replaces the faults; requests that arrive from now on see the new ones (a request
    /// already being forwarded keeps the delay it drew).
    pub fn set_faults(&self, faults: ProxyFaults) {
        *self
            .shared
            .faults
            .lock()
            .expect("holds because nothing panics while holding the faults lock") = faults;
    }

    /// How many requests have been forwarded to upstream so far; refused ones are not counted,
    /// ones that then failed upstream are.
    pub fn requests(&self) -> u64 {
        self.shared.forwarded.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for SwiftProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwiftProxy")
            .field("url", &self.url)
            .field("upstream", &self.shared.upstream.as_str())
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

impl Drop for SwiftProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // Fails only when the serving thread is gone already.
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the serving thread has been printed already; do not add one to a drop
            // that may be running during another panic.
            let _ = thread.join();
        }
    }
}

/// Writes a copy of the swiftgit config file `config` whose `[swift] auth_url` goes through
/// `proxy`, and returns its path in `dir` (`<stem>-via-proxy-<port>.<ext>`). Every other line
/// is kept byte for byte. Panics if the file cannot be read or written, has no `[swift]
/// auth_url`, or names a Swift other than the proxy's upstream.
pub fn config_through_proxy(config: &Path, proxy: &SwiftProxy, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(config)
        .unwrap_or_else(|e| panic!("cannot read the config {}: {e}", config.display()));
    let rewritten =
        rewrite::config_with_auth_url_via(&text, &proxy.shared.upstream, &proxy.shared.proxy)
            .unwrap_or_else(|e| panic!("{}: {e}", config.display()));
    let stem = config
        .file_stem()
        .map_or("swiftgit".into(), |s| s.to_string_lossy());
    let port = proxy
        .shared
        .proxy
        .port()
        .expect("holds because the proxy URL has an explicit port");
    let name = match config.extension() {
        Some(ext) => format!("{stem}-via-proxy-{port}.{}", ext.to_string_lossy()),
        None => format!("{stem}-via-proxy-{port}"),
    };
    let path = dir.join(name);
    std::fs::write(&path, rewritten)
        .unwrap_or_else(|e| panic!("cannot write the config {}: {e}", path.display()));
    path
}

fn install_crypto_provider() {
    // reqwest is built without a TLS provider of its own and wants one installed even for plain
    // HTTP; another part of the process may have installed one already, and either will do.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_delay_is_drawn_from_its_range() {
        let faults = ProxyFaults {
            body_delay_ms: 40..80,
            refuse: false,
        };
        for _ in 0..100 {
            let delay = faults.body_delay();
            assert!((40..80).contains(&delay.as_millis()), "{delay:?}");
        }
    }

    #[test]
    fn an_empty_range_is_its_start() {
        let exact = ProxyFaults {
            body_delay_ms: 40..40,
            refuse: false,
        };
        assert_eq!(exact.body_delay(), Duration::from_millis(40));
        assert_eq!(ProxyFaults::default().body_delay(), Duration::ZERO);
    }
}
