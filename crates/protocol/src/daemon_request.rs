//! git-daemon's first packet: which service, which repository, which protocol version.
//!
//! ```text
//! 003egit-upload-pack /repo.git\0host=example.com:9418\0\0version=2\0
//! ```
//!
//! The command and path are separated by one space; after a NUL come the optional
//! `host=<host>[:<port>]` and, after a second NUL, the extra parameters, each NUL-terminated. As in
//! `daemon.c`, a trailing `\n` on the command is dropped, the host key is case-insensitive, and any
//! other argument before the extra parameters is an error. `git-upload-archive` is recognised but
//! refused with [`DaemonRequestError::UnsupportedService`].

use bstr::BString;

use crate::escaped::EscapedBytes;
use crate::protocol_version::ProtocolVersion;

/// The service a connection asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `git-upload-pack`: fetch, clone, ls-remote.
    UploadPack,
    /// `git-receive-pack`: push.
    ReceivePack,
}

impl Service {
    /// The name on the wire and in HTTP URLs: `git-upload-pack` or `git-receive-pack`.
    pub fn name(self) -> &'static str {
        match self {
            Service::UploadPack => "git-upload-pack",
            Service::ReceivePack => "git-receive-pack",
        }
    }

    /// The service with this wire name (`git-upload-pack`, `git-receive-pack`).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        match name {
            b"git-upload-pack" => Some(Service::UploadPack),
            b"git-receive-pack" => Some(Service::ReceivePack),
            _ => None,
        }
    }
}

/// What a git:// client asked for in its first packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonRequest {
    /// The requested service.
    pub service: Service,
    /// The repository path exactly as sent (e.g. `/repo.git`); not yet checked or normalised.
    pub path: BString,
    /// The `host=` value, port included if the client sent one (`example.com:9418`).
    pub host: Option<BString>,
    /// The extra parameters (`version=2`, …) in the order sent.
    pub extra_parameters: Vec<BString>,
    /// The protocol version those parameters ask for.
    pub version: ProtocolVersion,
}

/// A first packet that is not a request we serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaemonRequestError {
    /// The command is not `git-upload-pack`, `git-receive-pack` or `git-upload-archive`.
    #[error("unknown service in request {request}: expected git-upload-pack or git-receive-pack")]
    UnknownService { request: EscapedBytes },
    /// A known git service this server does not offer.
    #[error("service {service} is not supported by this server")]
    UnsupportedService { service: &'static str },
    /// Nothing after the service name.
    #[error("request {request} names no repository path")]
    MissingPath { request: EscapedBytes },
    /// An argument before the extra parameters that is not `host=`.
    #[error("invalid argument {argument} in request: only host= may precede the extra parameters")]
    UnexpectedArgument { argument: EscapedBytes },
    /// An argument or parameter is not NUL-terminated.
    #[error("request arguments {arguments} are not NUL-terminated")]
    UnterminatedArguments { arguments: EscapedBytes },
}

/// Parse the payload of the first packet of a git:// connection.
pub fn parse(payload: &[u8]) -> Result<DaemonRequest, DaemonRequestError> {
    let (line, arguments) = match payload.iter().position(|&byte| byte == 0) {
        Some(nul) => (&payload[..nul], Some(&payload[nul + 1..])),
        None => (payload, None),
    };
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let (command, path) = match line.iter().position(|&byte| byte == b' ') {
        Some(space) => (&line[..space], &line[space + 1..]),
        None => (line, &b""[..]),
    };
    let service = match command {
        b"git-upload-archive" => {
            return Err(DaemonRequestError::UnsupportedService {
                service: "git-upload-archive",
            });
        }
        _ => Service::from_name(command).ok_or_else(|| DaemonRequestError::UnknownService {
            request: EscapedBytes::new(line),
        })?,
    };
    if path.is_empty() {
        return Err(DaemonRequestError::MissingPath {
            request: EscapedBytes::new(line),
        });
    }
    let (host, extra_parameters) = match arguments {
        Some(arguments) => parse_arguments(arguments)?,
        None => (None, Vec::new()),
    };
    let version =
        ProtocolVersion::from_parameters(extra_parameters.iter().map(|parameter| &parameter[..]));
    Ok(DaemonRequest {
        service,
        path: path.into(),
        host,
        extra_parameters,
        version,
    })
}

/// `[host=<host> NUL] [NUL (<parameter> NUL)*]`
fn parse_arguments(
    arguments: &[u8],
) -> Result<(Option<BString>, Vec<BString>), DaemonRequestError> {
    let mut rest = arguments;
    let mut host = None;
    if rest.first().is_some_and(|&byte| byte != 0) {
        let (argument, after) = split_terminated(rest)?;
        match argument.get(..5) {
            Some(key) if key.eq_ignore_ascii_case(b"host=") => {
                host = Some(BString::from(&argument[5..]));
            }
            _ => {
                return Err(DaemonRequestError::UnexpectedArgument {
                    argument: EscapedBytes::new(argument),
                });
            }
        }
        rest = after;
    }
    let mut extra_parameters = Vec::new();
    if let Some(after_separator) = rest.strip_prefix(b"\0") {
        rest = after_separator;
        while !rest.is_empty() {
            let (parameter, after) = split_terminated(rest)?;
            if !parameter.is_empty() {
                extra_parameters.push(BString::from(parameter));
            }
            rest = after;
        }
    } else if !rest.is_empty() {
        return Err(DaemonRequestError::UnexpectedArgument {
            argument: EscapedBytes::new(rest),
        });
    }
    Ok((host, extra_parameters))
}

fn split_terminated(bytes: &[u8]) -> Result<(&[u8], &[u8]), DaemonRequestError> {
    let nul = bytes.iter().position(|&byte| byte == 0).ok_or_else(|| {
        DaemonRequestError::UnterminatedArguments {
            arguments: EscapedBytes::new(bytes),
        }
    })?;
    Ok((&bytes[..nul], &bytes[nul + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v0_request_from_git_clone() {
        let request = parse(b"git-upload-pack /repo.git\0host=127.0.0.1:34999\0").unwrap();
        assert_eq!(
            request,
            DaemonRequest {
                service: Service::UploadPack,
                path: "/repo.git".into(),
                host: Some("127.0.0.1:34999".into()),
                extra_parameters: vec![],
                version: ProtocolVersion::V0,
            }
        );
    }

    #[test]
    fn v2_request_with_extra_parameters() {
        let request =
            parse(b"git-upload-pack /repo.git\0host=127.0.0.1:34999\0\0version=2\0").unwrap();
        assert_eq!(request.version, ProtocolVersion::V2);
        assert_eq!(request.extra_parameters, vec![BString::from("version=2")]);
        let request = parse(b"git-receive-pack /repo.git\0host=h\0\0version=1\0").unwrap();
        assert_eq!(request.service, Service::ReceivePack);
        assert_eq!(request.version, ProtocolVersion::V1);
    }

    #[test]
    fn host_is_optional_and_case_insensitive() {
        let request = parse(b"git-upload-pack /r\n").unwrap();
        assert_eq!(request.path, "/r");
        assert_eq!(request.host, None);
        let request = parse(b"git-upload-pack /r\0HOST=x\0").unwrap();
        assert_eq!(request.host, Some("x".into()));
        let request = parse(b"git-upload-pack /r\0\0version=2\0").unwrap();
        assert_eq!(request.host, None);
        assert_eq!(request.version, ProtocolVersion::V2);
    }

    #[test]
    fn bad_requests_get_specific_errors() {
        assert_eq!(
            parse(b"git-upload-archive /repo.git\0host=h\0"),
            Err(DaemonRequestError::UnsupportedService {
                service: "git-upload-archive"
            })
        );
        assert!(matches!(
            parse(b"git-frobnicate /repo.git\0"),
            Err(DaemonRequestError::UnknownService { .. })
        ));
        assert!(matches!(
            parse(b"GET / HTTP/1.1"),
            Err(DaemonRequestError::UnknownService { .. })
        ));
        assert!(matches!(
            parse(b"git-upload-pack\0host=h\0"),
            Err(DaemonRequestError::MissingPath { .. })
        ));
        assert!(matches!(
            parse(b"git-upload-pack \0host=h\0"),
            Err(DaemonRequestError::MissingPath { .. })
        ));
        assert!(matches!(
            parse(b"git-upload-pack /r\0user=me\0"),
            Err(DaemonRequestError::UnexpectedArgument { .. })
        ));
        assert!(matches!(
            parse(b"git-upload-pack /r\0host=h"),
            Err(DaemonRequestError::UnterminatedArguments { .. })
        ));
        assert!(matches!(
            parse(b"git-upload-pack /r\0\0version=2"),
            Err(DaemonRequestError::UnterminatedArguments { .. })
        ));
    }

    #[test]
    fn error_messages_show_the_request_safely() {
        let err = parse(b"git-evil \x1b[31m\0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown service in request git-evil \\x1b[31m: expected git-upload-pack or git-receive-pack"
        );
    }
}
