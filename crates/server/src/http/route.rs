//! Which repository and which service a smart HTTP request names: a pure function of the
//! method, the path and the query string, as `git http-backend` maps them.
//!
//! - `GET  /NAME[.git]/info/refs?service=git-upload-pack|git-receive-pack`
//! - `POST /NAME[.git]/git-upload-pack` and `POST /NAME[.git]/git-receive-pack`
//!
//! The path is percent-decoded once; the repository name must then pass [`RepoName`]'s rules
//! (no `/`, no `..`, no leading `.`, no control characters), so `%2e%2e` and `%2f` are refused
//! like their plain forms.

use swiftgit_protocol::daemon_request::Service;
use swiftgit_repo::{RepoName, RepoNameError};

/// What a request asks of its repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `GET info/refs?service=…`: the service's ref (or v2 capability) advertisement.
    Advertise(Service),
    /// `POST git-upload-pack` / `git-receive-pack`: one stateless request of the service.
    Rpc(Service),
}

impl Action {
    /// The service the action belongs to.
    pub fn service(self) -> Service {
        match self {
            Action::Advertise(service) | Action::Rpc(service) => service,
        }
    }
}

/// A routed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub repo: RepoName,
    pub action: Action,
}

/// Why a request names nothing this server serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The path is not one of the smart HTTP endpoints (404).
    #[error("no such endpoint: {0}")]
    NotFound(String),
    /// The repository part of the path is not a valid name (400).
    #[error(transparent)]
    BadName(#[from] RepoNameError),
    /// The path has a `%` not followed by two hex digits, or decodes to bytes that are not
    /// UTF-8 (400).
    #[error("malformed percent-encoding in the path {0:?}")]
    BadEncoding(String),
    /// `info/refs` without `service=`: dumb HTTP, which this server does not serve (403).
    #[error(
        "dumb HTTP is not served: use a git client that speaks smart HTTP (git 1.6.6 or later)"
    )]
    DumbHttp,
    /// A `service=` (or POST endpoint) that is not upload-pack or receive-pack (403).
    #[error("unknown service {0:?}: expected git-upload-pack or git-receive-pack")]
    UnknownService(String),
    /// The right path with the wrong method (405).
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
}

/// Routes `method` `path`?`query`.
pub fn route(method: &str, path: &str, query: Option<&str>) -> Result<Route, RouteError> {
    let decoded = percent_decode(path).ok_or_else(|| RouteError::BadEncoding(path.to_owned()))?;
    let trimmed = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (name, endpoint) = if let Some(name) = trimmed.strip_suffix("/info/refs") {
        (name, "info/refs")
    } else if let Some((name, last)) = trimmed.rsplit_once('/') {
        (name, last)
    } else {
        return Err(RouteError::NotFound(path.to_owned()));
    };
    let wrong_method = || RouteError::MethodNotAllowed {
        method: method.to_owned(),
        path: path.to_owned(),
    };
    let action = match endpoint {
        "info/refs" => {
            if method != "GET" && method != "HEAD" {
                return Err(wrong_method());
            }
            let service = query
                .into_iter()
                .flat_map(|query| query.split('&'))
                .find_map(|pair| pair.strip_prefix("service="))
                .ok_or(RouteError::DumbHttp)?;
            let service = Service::from_name(service.as_bytes())
                .ok_or_else(|| RouteError::UnknownService(service.to_owned()))?;
            Action::Advertise(service)
        }
        "git-upload-pack" | "git-receive-pack" => {
            if method != "POST" {
                return Err(wrong_method());
            }
            let service = Service::from_name(endpoint.as_bytes())
                .expect("holds because the endpoint is one of the two service names");
            Action::Rpc(service)
        }
        other if other.starts_with("git-") => {
            return Err(RouteError::UnknownService(other.to_owned()));
        }
        _ => return Err(RouteError::NotFound(path.to_owned())),
    };
    Ok(Route {
        repo: RepoName::new(name)?,
        action,
    })
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(method: &str, path: &str, query: Option<&str>) -> Route {
        route(method, path, query).unwrap()
    }

    #[test]
    fn endpoints() {
        let advertise = ok(
            "GET",
            "/edeploy.git/info/refs",
            Some("service=git-upload-pack"),
        );
        assert_eq!(advertise.repo.as_str(), "edeploy");
        assert_eq!(advertise.action, Action::Advertise(Service::UploadPack));
        let push = ok("POST", "/edeploy/git-receive-pack", None);
        assert_eq!(push.action, Action::Rpc(Service::ReceivePack));
        let encoded = ok(
            "GET",
            "/team%2Done/info/refs",
            Some("x=1&service=git-receive-pack"),
        );
        assert_eq!(encoded.repo.as_str(), "team-one");
    }

    #[test]
    fn bad_paths_are_refused() {
        for path in [
            "/../info/refs",
            "/%2e%2e/info/refs",
            "/%2E%2E/info/refs",
            "//info/refs",
            "/a%2fb/info/refs",
            "/a/b/info/refs",
            "/.hidden/info/refs",
        ] {
            let error = route("GET", path, Some("service=git-upload-pack")).unwrap_err();
            assert!(matches!(error, RouteError::BadName(_)), "{path}: {error:?}");
        }
        assert!(matches!(
            route("GET", "/a%zz/info/refs", None),
            Err(RouteError::BadEncoding(_))
        ));
        assert!(matches!(
            route("GET", "/", None),
            Err(RouteError::NotFound(_))
        ));
        assert!(matches!(
            route("GET", "/x/info/refs", None),
            Err(RouteError::DumbHttp)
        ));
        assert!(matches!(
            route("GET", "/x/info/refs", Some("service=git-shell")),
            Err(RouteError::UnknownService(_))
        ));
        assert!(matches!(
            route("POST", "/x/git-upload-archive", None),
            Err(RouteError::UnknownService(_))
        ));
        assert!(matches!(
            route("GET", "/x/git-upload-pack", None),
            Err(RouteError::MethodNotAllowed { .. })
        ));
        assert!(matches!(
            route("GET", "/x/HEAD", None),
            Err(RouteError::NotFound(_))
        ));
    }
}
