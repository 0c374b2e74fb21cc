//! One smart HTTP request: route, authenticate, authorize, then either the advertisement
//! (`GET info/refs`) or one stateless session (`POST`), and one access log line.
//!
//! A POST's session runs on its own task, reading the request body as it arrives and writing
//! into a bounded pipe whose other end is the response body. The response status is chosen
//! when the session first writes: a session that fails before writing anything (bad pkt-lines,
//! a broken gzip body, a body over the limit) gets a 4xx with the reason; once bytes are sent,
//! errors reach git as an `ERR` packet or in the push report, as over git://.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use swiftgit_protocol::ProtocolVersion;
use swiftgit_protocol::advertisement::encode_http_service_header;
use swiftgit_protocol::daemon_request::Service;
use swiftgit_protocol::error_packet::encode_error;
use swiftgit_protocol::v2::encode_capability_advertisement;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::HttpServer;
use super::access::Permission;
use super::auth::parse_basic;
use super::body::{self, BodyEncoding, ResponseBody, full_body, pipe_body};
use super::error::HttpError;
use super::route::{self, Action};
use crate::daemon::byte_count::CountingWriter;
use crate::daemon::{push_record, service_label};
use crate::observer::{PushRecord, RequestRecord, ServerObserver, Transport};
use crate::registry::RepoHandle;
use crate::session::error::{SessionError, message_with_sources};
use crate::session::pkt_io::{IdleTimeoutWriter, PktSink, PktStream};
use crate::session::receive_pack::PushSummary;
use crate::session::{receive_pack, upload_pack};

/// Capacity of the pipe between a session and its response body.
const PIPE_BYTES: usize = 64 << 10;

/// `git http-backend`'s headers against caching.
pub(super) fn no_cache(headers: &mut HeaderMap) {
    headers.insert(
        header::EXPIRES,
        HeaderValue::from_static("Fri, 01 Jan 1980 00:00:00 GMT"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, max-age=0, must-revalidate"),
    );
}

fn git_response(content_type: String, body: ResponseBody) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    no_cache(response.headers_mut());
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// The access log line of one request, and what the observer hears of it. Never holds a
/// password or the Authorization header.
#[derive(Debug)]
struct AccessLog {
    observer: Arc<dyn ServerObserver>,
    /// The service as the observer labels it: `info-refs` for an advertisement, the v2
    /// command for a v2 upload-pack POST.
    metric_service: &'static str,
    /// The session's error label when it failed after the response started.
    label: Option<&'static str>,
    /// What a push POST did, once receive-pack returned.
    push: Option<PushSummary>,
    peer: SocketAddr,
    method: String,
    path: String,
    user: Option<String>,
    repo: Option<String>,
    service: Option<&'static str>,
    bytes_in: Arc<AtomicU64>,
    bytes_out: Arc<AtomicU64>,
    started: Instant,
}

impl AccessLog {
    fn emit(&self, status: StatusCode, result: &str) {
        tracing::info!(
            target: "swiftgit::access",
            peer = %self.peer,
            method = %self.method,
            path = %self.path,
            user = self.user.as_deref().unwrap_or("-"),
            repo = self.repo.as_deref().unwrap_or("-"),
            service = self.service.unwrap_or("-"),
            status = status.as_u16(),
            bytes_in = self.bytes_in.load(Ordering::Relaxed),
            bytes_out = self.bytes_out.load(Ordering::Relaxed),
            ms = self.started.elapsed().as_millis() as u64,
            result,
            "HTTP request"
        );
        let result = match self.label {
            Some(label) => label,
            None if status.is_success() => "ok",
            None => status_label(status),
        };
        self.observer.request(&RequestRecord {
            transport: Transport::Http,
            service: self.metric_service,
            result,
            duration: self.started.elapsed(),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        });
        if self.metric_service == "receive-pack" {
            let record = match &self.push {
                Some(summary) if result == "ok" => push_record(Transport::Http, summary),
                _ => Some(PushRecord {
                    transport: Transport::Http,
                    accepted: false,
                    refs_updated: self.push.as_ref().map_or(0, |p| p.updated as u64),
                    objects_received: self.push.as_ref().map_or(0, |p| p.objects as u64),
                }),
            };
            if let Some(record) = record {
                self.observer.push(&record);
            }
        }
    }
}

/// The observer's result label of an error status.
fn status_label(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad-request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::TOO_MANY_REQUESTS => "too-many-failures",
        status if status.is_server_error() => "internal",
        _ => "error",
    }
}

/// What one stateless session did: its log summary, the v2 command it served and what a push
/// did.
#[derive(Debug, Clone)]
struct SessionSummary {
    text: String,
    command: Option<&'static str>,
    push: Option<PushSummary>,
}

/// A response, and whether its log line is still to be written here.
enum Answer {
    Done(Response<ResponseBody>, String),
    /// Streaming: the session task writes the log line when it ends.
    Streaming(Response<ResponseBody>),
}

impl HttpServer {
    /// Answers one request; never fails (errors become 4xx/5xx responses).
    pub(super) async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<ResponseBody> {
        let log = Arc::new(std::sync::Mutex::new(AccessLog {
            observer: Arc::clone(self.registry.observer()),
            metric_service: "none",
            label: None,
            push: None,
            peer,
            method: request.method().to_string(),
            path: request.uri().path().chars().take(200).collect(),
            user: None,
            repo: None,
            service: None,
            bytes_in: Arc::default(),
            bytes_out: Arc::default(),
            started: Instant::now(),
        }));
        let (response, result) = match self.dispatch(request, peer, &log).await {
            Ok(Answer::Streaming(response)) => return response,
            Ok(Answer::Done(response, result)) => (response, result),
            Err(error) => (error.response(), error.to_string()),
        };
        if let Ok(log) = log.lock() {
            if let Some(length) = http_body::Body::size_hint(response.body()).exact() {
                log.bytes_out.store(length, Ordering::Relaxed);
            }
            log.emit(response.status(), &result);
        }
        response
    }

    async fn dispatch(
        self: &Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
        log: &Arc<std::sync::Mutex<AccessLog>>,
    ) -> Result<Answer, HttpError> {
        let route = route::route(
            request.method().as_str(),
            request.uri().path(),
            request.uri().query(),
        )?;
        let service = route.action.service();
        if let Ok(mut log) = log.lock() {
            log.metric_service = match route.action {
                Action::Advertise(_) => "info-refs",
                Action::Rpc(service) => service_label(service),
            };
        }
        let user = match request.headers().get(header::AUTHORIZATION) {
            None => None,
            Some(value) => {
                let credentials = parse_basic(value.as_bytes())?;
                if let Err(wait) = self.throttle.check(peer.ip())
                    && !self.auth.remembered(&credentials).await
                {
                    tracing::info!(target: "swiftgit::access", user = %credentials.user, "too many wrong passwords from this address");
                    return Err(HttpError::TooManyFailures(wait));
                }
                if !self.auth.check(&credentials).await {
                    self.throttle.failed(peer.ip());
                    tracing::info!(target: "swiftgit::access", user = %credentials.user, "wrong credentials");
                    return Err(HttpError::Unauthorized);
                }
                Some(credentials.user)
            }
        };
        if let Ok(mut log) = log.lock() {
            log.repo = Some(route.repo.to_string());
            log.service = Some(service.name());
            log.user = user.clone();
        }
        let need = match service {
            Service::UploadPack => Permission::Read,
            Service::ReceivePack => Permission::Write,
        };
        if need == Permission::Write && self.options.read_only {
            return Err(HttpError::Forbidden("this server is read-only".into()));
        }
        if !self
            .options
            .access
            .allows(user.as_deref(), route.repo.as_str(), need)
        {
            return Err(match user {
                None => HttpError::Unauthorized,
                Some(user) => HttpError::Forbidden(format!(
                    "user '{user}' may not {} repository '{}'",
                    if need == Permission::Write {
                        "push to"
                    } else {
                        "read"
                    },
                    route.repo
                )),
            });
        }
        let handle = self.registry.get(&route.repo).await.map_err(|error| {
            if error.is_not_found() {
                HttpError::NotFound(route.repo.to_string())
            } else {
                HttpError::Internal(message_with_sources(&error))
            }
        })?;
        let version = request
            .headers()
            .get("git-protocol")
            .map_or(ProtocolVersion::V0, |value| {
                ProtocolVersion::from_git_protocol(value.as_bytes())
            });
        match route.action {
            Action::Advertise(service) => {
                let body = self.advertisement(handle, service, version).await?;
                let short = &service.name()[4..];
                let response = git_response(
                    format!("application/x-git-{short}-advertisement"),
                    full_body(body),
                );
                Ok(Answer::Done(response, "ok: advertisement".into()))
            }
            Action::Rpc(service) => self.rpc(handle, service, version, request, log).await,
        }
    }

    /// The `info/refs` body: `# service=…` and a flush (except for a v2 upload-pack), then
    /// the session's advertisement.
    async fn advertisement(
        &self,
        handle: Arc<RepoHandle>,
        service: Service,
        version: ProtocolVersion,
    ) -> Result<Vec<u8>, HttpError> {
        let mut head = Vec::new();
        if service == Service::UploadPack && version == ProtocolVersion::V2 {
            encode_capability_advertisement(&mut head, &self.options.upload_pack.v2);
            return Ok(head);
        }
        encode_http_service_header(&mut head, service);
        let mut sink = PktSink::new(Vec::new());
        let result = match service {
            Service::UploadPack => {
                let mut nothing = PktStream::new(tokio::io::empty(), self.options.idle_timeout);
                let options = &self.options.upload_pack;
                upload_pack::serve_v0(handle, &mut nothing, &mut sink, options, version, true)
                    .await
                    .map(drop)
            }
            Service::ReceivePack => {
                let state = handle.repo.state();
                let options = &self.options.receive_pack;
                receive_pack::advertise_refs(&handle, &state, &mut sink, version, options).await
            }
        };
        result.map_err(|error| HttpError::Internal(message_with_sources(&error)))?;
        head.extend_from_slice(&sink.into_inner());
        Ok(head)
    }

    /// A POST: checks the headers, then runs the session on its own task.
    async fn rpc(
        self: &Arc<Self>,
        handle: Arc<RepoHandle>,
        service: Service,
        version: ProtocolVersion,
        request: Request<Incoming>,
        log: &Arc<std::sync::Mutex<AccessLog>>,
    ) -> Result<Answer, HttpError> {
        let short = &service.name()[4..];
        let headers = request.headers();
        let expected = format!("application/x-git-{short}-request");
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        if content_type != expected {
            return Err(HttpError::UnsupportedMediaType(format!(
                "expected Content-Type {expected}, got {content_type:?}"
            )));
        }
        let encoding = match headers
            .get(header::CONTENT_ENCODING)
            .map(|value| value.as_bytes())
        {
            None | Some(b"identity") => BodyEncoding::Identity,
            Some(b"gzip" | b"x-gzip") => BodyEncoding::Gzip,
            Some(other) => {
                return Err(HttpError::UnsupportedMediaType(format!(
                    "unsupported Content-Encoding {:?}",
                    String::from_utf8_lossy(other)
                )));
            }
        };
        let limit = self.options.max_body_bytes;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit) {
            return Err(HttpError::TooLarge(body::BodyTooLarge { limit }));
        }
        let (bytes_in, bytes_out) = match log.lock() {
            Ok(log) => (Arc::clone(&log.bytes_in), Arc::clone(&log.bytes_out)),
            Err(_) => (Arc::default(), Arc::default()),
        };
        let reader = body::request_reader(request.into_body(), limit, bytes_in, encoding);
        let (session_end, mut response_end) = tokio::io::duplex(PIPE_BYTES);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let server = Arc::clone(self);
        let task_log = Arc::clone(log);
        tokio::spawn(async move {
            let mut input = PktStream::new(reader, server.options.idle_timeout);
            let mut output = PktSink::new(IdleTimeoutWriter::new(
                CountingWriter::new(session_end, Arc::clone(&bytes_out)),
                server.options.idle_timeout,
            ));
            let result = server
                .run_session(handle, service, version, &mut input, &mut output)
                .await;
            let started = bytes_out.load(Ordering::Relaxed) > 0;
            let summary = match &result {
                Ok(summary) => summary.text.clone(),
                Err(error) => format!("{}: {}", error.log_label(), message_with_sources(error)),
            };
            if let Ok(mut log) = task_log.lock() {
                match &result {
                    Ok(done) => {
                        if let Some(command) = done.command {
                            log.metric_service = command;
                        }
                        if done.push.as_ref().is_some_and(|p| p.unpack_error.is_some()) {
                            log.label = Some("unpack-error");
                        }
                        log.push = done.push.clone();
                    }
                    Err(error) if started => log.label = Some(error.log_label()),
                    Err(_) => {}
                }
            }
            if started
                && let Err(error) = &result
                && let Some(message) = error.client_message()
            {
                encode_error(&mut output.buf, &message);
                let _ = output.flush().await;
            }
            let _ = output.writer_mut().shutdown().await;
            drop(output);
            if started {
                if let Ok(log) = task_log.lock() {
                    log.emit(StatusCode::OK, &summary);
                }
            } else {
                let _ = done_tx.send(
                    result
                        .map(|done| done.text)
                        .map_err(|error| HttpError::from_session(&error)),
                );
            }
        });
        let mut first = vec![0u8; 16 << 10];
        let read = response_end.read(&mut first).await.unwrap_or(0);
        let content_type = format!("application/x-git-{short}-result");
        if read > 0 {
            first.truncate(read);
            let body = pipe_body(Bytes::from(first), response_end);
            return Ok(Answer::Streaming(git_response(content_type, body)));
        }
        match done_rx.await {
            Ok(Ok(summary)) => Ok(Answer::Done(
                git_response(content_type, full_body(Bytes::new())),
                summary,
            )),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(HttpError::Internal("the session ended unexpectedly".into())),
        }
    }

    /// One stateless session; what it did.
    async fn run_session<R, W>(
        &self,
        handle: Arc<RepoHandle>,
        service: Service,
        version: ProtocolVersion,
        input: &mut PktStream<R>,
        output: &mut PktSink<W>,
    ) -> Result<SessionSummary, SessionError>
    where
        R: tokio::io::AsyncRead + Unpin + Send,
        W: tokio::io::AsyncWrite + Unpin + Send,
    {
        match service {
            Service::UploadPack => {
                let options = &self.options.upload_pack;
                let outcome = match version {
                    ProtocolVersion::V2 => {
                        upload_pack::serve_v2(handle, input, output, options, false).await?
                    }
                    version => {
                        upload_pack::serve_v0(handle, input, output, options, version, false)
                            .await?
                    }
                };
                Ok(SessionSummary {
                    text: format!("ok: {outcome}"),
                    command: outcome.last_command,
                    push: None,
                })
            }
            Service::ReceivePack => {
                let options = &self.options.receive_pack;
                let summary =
                    receive_pack::serve(&handle, input, output, version, options, false).await?;
                let text = match &summary.unpack_error {
                    Some(error) => format!("unpack error: {error}"),
                    None => format!(
                        "ok: {} of {} ref(s) updated, {} object(s) received",
                        summary.updated, summary.commands, summary.objects
                    ),
                };
                Ok(SessionSummary {
                    text,
                    command: None,
                    push: Some(summary),
                })
            }
        }
    }
}
