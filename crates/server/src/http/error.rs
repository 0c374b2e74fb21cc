//! Why a smart HTTP request is answered with an error status, and that answer: a short plain
//! text reason (git shows it with `remote:` for some statuses), the no-cache headers, and
//! `WWW-Authenticate` on 401.

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::auth::AuthHeaderError;
use super::body::{self, ResponseBody, full_body};
use super::handler::no_cache;
use super::route::RouteError;
use crate::session::error::{SessionError, message_with_sources};
use crate::session::pkt_io::PktIoError;

/// Why a request is answered with an error status.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error(transparent)]
    AuthHeader(#[from] AuthHeaderError),
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("repository '{0}' not found")]
    NotFound(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    TooLarge(#[from] body::BodyTooLarge),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("the client was too slow: {0}")]
    Timeout(String),
    #[error("too many wrong passwords from this address: try again in {} s", .0.as_secs().max(1))]
    TooManyFailures(std::time::Duration),
    #[error("server error: {0}")]
    Internal(String),
}

impl HttpError {
    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::Route(RouteError::NotFound(_)) | HttpError::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            HttpError::Route(RouteError::MethodNotAllowed { .. }) => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::Route(RouteError::DumbHttp | RouteError::UnknownService(_))
            | HttpError::Forbidden(_) => StatusCode::FORBIDDEN,
            HttpError::Route(_) | HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::AuthHeader(AuthHeaderError::Malformed) => StatusCode::BAD_REQUEST,
            HttpError::AuthHeader(_) | HttpError::Unauthorized => StatusCode::UNAUTHORIZED,
            HttpError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            HttpError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            HttpError::TooManyFailures(_) => StatusCode::TOO_MANY_REQUESTS,
            HttpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The whole answer.
    pub fn response(&self) -> Response<ResponseBody> {
        let status = self.status();
        let mut response = Response::new(full_body(format!("{self}\n")));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        no_cache(headers);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let HttpError::TooManyFailures(wait) = self {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs_f64().ceil().max(1.0) as u64),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"swiftgit\""),
            );
        }
        response
    }

    /// The status of a session that failed before sending anything.
    pub(super) fn from_session(error: &SessionError) -> HttpError {
        if let Some(too_large) = body::body_too_large(error) {
            return HttpError::TooLarge(too_large);
        }
        let message = message_with_sources(error);
        match error {
            SessionError::Read(PktIoError::Idle(_)) => HttpError::Timeout(message),
            SessionError::Read(_)
            | SessionError::PushRequest(_)
            | SessionError::Command(_)
            | SessionError::UploadPack(_)
            | SessionError::Unsupported(_) => HttpError::BadRequest(message),
            _ => HttpError::Internal(message),
        }
    }
}
