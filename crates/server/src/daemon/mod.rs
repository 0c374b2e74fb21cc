//! The git:// transport (what `git daemon` serves on port 9418): one request per TCP
//! connection. The first pkt-line names the service, the repository and (in its extra
//! parameters) the protocol version; the rest of the connection belongs to that service's
//! session.
//!
//! git:// has no authentication and no encryption: whoever reaches the port can read every
//! repository and, unless the daemon is read-only, push.
//!
//! Errors reach the client as `ERR <message>` (git prints `fatal: remote error: <message>`):
//! unknown services, malformed paths, missing repositories (never created on the fly), garbage
//! bytes, oversized or non-hex pkt-line lengths. A client that sends nothing is dropped after the
//! idle timeout. Each connection runs on its own task; its failure ends only that connection.
//! One `info` log line records each request: peer, repository, service, protocol version,
//! result, bytes each way, duration; the registry's observer hears the same, without the peer
//! and the repository.

pub(crate) mod byte_count;
mod quick_ack;
pub mod request;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use swiftgit_config::sections::daemon;
use swiftgit_protocol::ProtocolVersion;
use swiftgit_protocol::daemon_request::Service;
use swiftgit_protocol::error_packet::encode_error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::listener::{self, ConnectionEvents, ConnectionLimits};
use crate::observer::{PushRecord, RequestRecord, Transport};
use crate::registry::Registry;
use crate::session::pkt_io::{IdleTimeoutWriter, PktIoError, PktSink, PktStream};
use crate::session::receive_pack::{self, PushSummary, ReceivePackOptions};
use crate::session::upload_pack::{self, UploadPackOptions};
use byte_count::{CountingReader, CountingWriter};
use quick_ack::QuickAck;
pub use request::{DaemonError, Target};

/// How long the client gets to close the connection after the last response (an `ERR`, a push
/// report after a refused pack): it may still be sending, and closing with unread input would
/// reset the connection before our last bytes arrive.
const LINGER: Duration = Duration::from_secs(2);
/// Input discarded while lingering, at most.
const LINGER_BYTES: u64 = 16 << 20;

/// What a git:// daemon serves and how.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// Connection cap and shutdown grace period.
    pub limits: ConnectionLimits,
    /// A client that sends nothing for this long while it is expected to, or reads nothing of
    /// a response for this long, is disconnected.
    pub idle_timeout: Duration,
    /// Refuse every push (`git-receive-pack`) with an `ERR`.
    pub read_only: bool,
    /// How pushes are received.
    pub receive_pack: ReceivePackOptions,
    /// How fetches are served.
    pub upload_pack: UploadPackOptions,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            limits: ConnectionLimits::default(),
            idle_timeout: Duration::from_secs(const { daemon::IDLE_TIMEOUT.default_number() }),
            read_only: false,
            receive_pack: ReceivePackOptions::default(),
            upload_pack: UploadPackOptions::default(),
        }
    }
}

/// A git:// server over the repositories of one [`Registry`].
#[derive(Debug)]
pub struct Daemon {
    registry: Arc<Registry>,
    options: DaemonOptions,
}

/// What one request did, for its log line and the observer.
#[derive(Debug, Default)]
struct RequestLog {
    target: Option<Target>,
    /// `ok`, or what went wrong.
    result: String,
    /// The error's label, `None` when the request succeeded.
    label: Option<&'static str>,
    /// What a push did, once receive-pack returned.
    push: Option<PushSummary>,
}

/// A service's name without `git-`, as the observer labels it.
pub(crate) fn service_label(service: Service) -> &'static str {
    match service {
        Service::UploadPack => "upload-pack",
        Service::ReceivePack => "receive-pack",
    }
}

/// What the observer hears of a receive-pack session that returned `summary`: accepted when
/// every ref update was applied; `None` when the client sent no command (git does so when it
/// finds nothing to push, or refuses a non-fast-forward itself): no push happened.
pub(crate) fn push_record(transport: Transport, summary: &PushSummary) -> Option<PushRecord> {
    (summary.commands > 0).then(|| PushRecord {
        transport,
        accepted: summary.unpack_error.is_none() && summary.updated == summary.commands,
        refs_updated: summary.updated as u64,
        objects_received: summary.objects as u64,
    })
}

impl Daemon {
    pub fn new(registry: Arc<Registry>, options: DaemonOptions) -> Arc<Daemon> {
        Arc::new(Daemon { registry, options })
    }

    pub fn options(&self) -> &DaemonOptions {
        &self.options
    }

    /// Serves `listener` (already bound) until `shutdown` completes, then waits for the
    /// connections in flight as [`listener::serve`] does: a push in progress either completes
    /// or, if the grace period runs out, is dropped before its ref update — never half-applied.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let limits = self.options.limits.clone();
        let events = ConnectionEvents {
            transport: Transport::Git,
            observer: Arc::clone(self.registry.observer()),
        };
        listener::serve(listener, limits, events, shutdown, move |stream, peer| {
            let daemon = Arc::clone(&self);
            async move { daemon.handle_connection(stream, peer).await }
        })
        .await;
    }

    /// Serves one connection to its end. Never panics on client input; errors are sent to the
    /// client as `ERR` and logged.
    pub async fn handle_connection(&self, stream: TcpStream, peer: SocketAddr) {
        let started = Instant::now();
        let _ = stream.set_nodelay(true);
        let (received, sent) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (read_half, write_half) = stream.into_split();
        let mut input = PktStream::new(
            CountingReader::new(QuickAck::new(read_half), Arc::clone(&received)),
            self.options.idle_timeout,
        );
        let mut output = PktSink::new(IdleTimeoutWriter::new(
            CountingWriter::new(write_half, Arc::clone(&sent)),
            self.options.idle_timeout,
        ));
        let mut log = RequestLog::default();
        let reachable = match self.serve_request(&mut input, &mut output, &mut log).await {
            Ok(()) => true,
            Err(error) => {
                log.label = Some(error.log_label());
                log.result = format!("{}: {error}", error.log_label());
                match error.client_message() {
                    Some(message) => {
                        encode_error(&mut output.buf, &message);
                        output.flush().await.is_ok()
                    }
                    None => false,
                }
            }
        };
        if reachable {
            linger(&mut input, &mut output).await;
        }
        if log.result.is_empty() {
            log.result = "ok".into();
        }
        let target = log.target.as_ref();
        tracing::info!(
            %peer,
            repo = target.map_or("-", |t| t.repo.as_str()),
            service = target.map_or("-", |t| t.service.name()),
            version = target.map_or(0, |t| t.version as u8),
            result = %log.result,
            bytes_in = received.load(Ordering::Relaxed),
            bytes_out = sent.load(Ordering::Relaxed),
            ms = started.elapsed().as_millis() as u64,
            "git:// request"
        );
        let observer = self.registry.observer();
        let service = target.map_or("none", |t| service_label(t.service));
        observer.request(&RequestRecord {
            transport: Transport::Git,
            service,
            result: log.label.unwrap_or("ok"),
            duration: started.elapsed(),
            bytes_in: received.load(Ordering::Relaxed),
            bytes_out: sent.load(Ordering::Relaxed),
        });
        match (&log.push, log.label) {
            (Some(summary), _) => {
                if let Some(record) = push_record(Transport::Git, summary) {
                    observer.push(&record);
                }
            }
            // A push that failed before or inside receive-pack.
            (None, Some(_)) if service == "receive-pack" => observer.push(&PushRecord {
                transport: Transport::Git,
                accepted: false,
                refs_updated: 0,
                objects_received: 0,
            }),
            _ => {}
        }
    }

    async fn serve_request<R, W>(
        &self,
        input: &mut PktStream<R>,
        output: &mut PktSink<W>,
        log: &mut RequestLog,
    ) -> Result<(), DaemonError>
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        // The whole first packet must arrive within the idle timeout (not one byte per timeout).
        let idle_timeout = self.options.idle_timeout;
        let first = tokio::time::timeout(idle_timeout, request::read_target(input))
            .await
            .map_err(|_| DaemonError::Read(PktIoError::Idle(idle_timeout)))?;
        let Some(target) = first? else {
            log.result = "closed before a request".into();
            return Ok(());
        };
        log.target = Some(target.clone());
        if target.service == Service::ReceivePack && self.options.read_only {
            return Err(DaemonError::ReadOnly(Service::ReceivePack.name()));
        }
        let handle = self.registry.get(&target.repo).await?;
        match target.service {
            Service::UploadPack => {
                let options = &self.options.upload_pack;
                let outcome = match target.version {
                    ProtocolVersion::V2 => {
                        upload_pack::serve_v2(handle, input, output, options, true).await?
                    }
                    version => {
                        upload_pack::serve_v0(handle, input, output, options, version, true).await?
                    }
                };
                log.result = format!("ok: {outcome}");
            }
            Service::ReceivePack => {
                let summary = receive_pack::serve(
                    &handle,
                    input,
                    output,
                    target.version,
                    &self.options.receive_pack,
                    true,
                )
                .await?;
                log.result = match &summary.unpack_error {
                    Some(error) => format!("unpack error: {error}"),
                    None => format!(
                        "ok: {} of {} ref(s) updated, {} object(s) received",
                        summary.updated, summary.commands, summary.objects
                    ),
                };
                if summary.unpack_error.is_some() {
                    log.label = Some("unpack-error");
                }
                log.push = Some(summary);
            }
        }
        Ok(())
    }
}

/// After the last response: stop writing (the client sees the end of the stream), then read and
/// drop what it still sends until it closes, for at most [`LINGER`], so that it reads our last
/// bytes rather than a connection reset.
async fn linger<R, W>(input: &mut PktStream<R>, output: &mut PktSink<W>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let _ = output.writer_mut().shutdown().await;
    let _ = input.take_buffered();
    let reader = input.reader_mut();
    let _ = tokio::time::timeout(LINGER, async {
        let mut discard = reader.take(LINGER_BYTES);
        tokio::io::copy(&mut discard, &mut tokio::io::sink()).await
    })
    .await;
}
