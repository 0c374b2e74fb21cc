//! The proxy's pure rewrites, kept apart from its sockets: which headers are hop-by-hop and stay
//! on their own connection, how a URL naming Swift is turned into one naming the proxy (the
//! storage URL of an auth response, the `auth_url` of a config), and the config-file edit that
//! changes that one value and keeps every other byte.

use reqwest::Url;
use reqwest::header::{self, HeaderMap, HeaderName};

/// The auth response headers that carry the storage URL a client talks to after authenticating
/// (tempauth sends `X-Storage-Url`; some deployments spell it `X-Auth-Storage-Url`).
/// `HeaderMap` names are lower case, so matching them is case-insensitive.
const STORAGE_URL_HEADERS: [&str; 2] = ["x-storage-url", "x-auth-storage-url"];

/// Headers that describe one connection, not the message, and so are never forwarded
/// (RFC 9110 §7.6.1), beside whatever the message's own `Connection` header names.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes the hop-by-hop headers from `headers`: the fixed list, `Keep-Alive`,
/// `Proxy-Connection`, and every header the `Connection` header names.
pub(super) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(&HOP_BY_HOP) {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// Rewrites, in a response's `headers`, every storage URL that points at `upstream` so that it
/// points at `proxy` instead; a storage URL naming another host is left alone.
pub(super) fn rewrite_storage_urls(headers: &mut HeaderMap, upstream: &Url, proxy: &Url) {
    for name in STORAGE_URL_HEADERS {
        let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let Some(rewritten) = via_proxy(value, upstream, proxy) else {
            continue;
        };
        let value = rewritten
            .parse()
            .expect("holds because a serialized URL is a valid header value");
        headers.insert(name, value);
    }
}

/// `url` with the scheme, host and port of `upstream` replaced by those of `proxy`, or `None`
/// when `url` does not parse or names another origin. The comparison is the URL standard's
/// (case-insensitive host, default ports made explicit), so `HTTP://127.0.0.1:18080/v1/x`
/// matches `http://127.0.0.1:18080`.
pub(super) fn via_proxy(url: &str, upstream: &Url, proxy: &Url) -> Option<String> {
    let mut url = Url::parse(url).ok()?;
    if url.origin() != upstream.origin() {
        return None;
    }
    url.set_scheme(proxy.scheme()).ok()?;
    url.set_host(proxy.host_str()).ok()?;
    url.set_port(proxy.port_or_known_default()).ok()?;
    Some(url.into())
}

/// Why a config file's `auth_url` could not be sent through the proxy.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum AuthUrlError {
    #[error("the [swift] section has no auth_url line")]
    Missing,
    #[error("auth_url {auth_url} on line {line} is not on the proxy's upstream {upstream}")]
    OtherOrigin {
        auth_url: String,
        line: usize,
        upstream: String,
    },
}

/// `config` (the text of a swiftgit INI config) with the value of `auth_url` in its `[swift]`
/// section sent through `proxy` by [`via_proxy`]; every other byte, line endings included, is
/// kept. Keys and separators are read as `swiftgit_config` reads them: `key = value` or
/// `key: value`, keys case-insensitive, `#`/`;` comments.
pub(super) fn config_with_auth_url_via(
    config: &str,
    upstream: &Url,
    proxy: &Url,
) -> Result<String, AuthUrlError> {
    let mut out = String::with_capacity(config.len() + 8);
    let mut section: Option<&str> = None;
    let mut rewritten = false;
    for (index, line) in config.split_inclusive('\n').enumerate() {
        let body = line.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = Some(name.trim());
        } else if section == Some("swift")
            && !body.starts_with([' ', '\t'])
            && let Some((value_start, auth_url)) = auth_url_value(body)
        {
            let through =
                via_proxy(auth_url, upstream, proxy).ok_or_else(|| AuthUrlError::OtherOrigin {
                    auth_url: auth_url.to_string(),
                    line: index + 1,
                    upstream: upstream.to_string(),
                })?;
            out.push_str(&line[..value_start]);
            out.push_str(&through);
            out.push_str(&line[value_start + auth_url.len()..]);
            rewritten = true;
            continue;
        }
        out.push_str(line);
    }
    if rewritten {
        Ok(out)
    } else {
        Err(AuthUrlError::Missing)
    }
}

/// When `line` is an `auth_url` entry, the byte offset where its value starts and the value.
fn auth_url_value(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    if trimmed.starts_with(['#', ';']) {
        return None;
    }
    let split = line.find(['=', ':'])?;
    if !line[..split].trim().eq_ignore_ascii_case("auth_url") {
        return None;
    }
    let after = &line[split + 1..];
    let value = after.trim();
    let value_start = split + 1 + (after.len() - after.trim_start().len());
    Some((value_start, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("holds because the test URLs are valid")
    }

    #[test]
    fn a_storage_url_on_the_upstream_is_sent_through_the_proxy() {
        let (upstream, proxy) = (url("http://127.0.0.1:18080"), url("http://127.0.0.1:4321"));
        let mut headers = HeaderMap::new();
        headers.insert(
            "X-Storage-Url",
            "http://127.0.0.1:18080/v1/AUTH_t".parse().unwrap(),
        );
        headers.insert(
            "X-Auth-Storage-Url",
            "HTTP://127.0.0.1:18080/v1/A?x=1".parse().unwrap(),
        );
        headers.insert(
            "X-Auth-Token",
            "http://127.0.0.1:18080/not-a-url-header".parse().unwrap(),
        );
        rewrite_storage_urls(&mut headers, &upstream, &proxy);
        assert_eq!(headers["x-storage-url"], "http://127.0.0.1:4321/v1/AUTH_t");
        assert_eq!(
            headers["x-auth-storage-url"],
            "http://127.0.0.1:4321/v1/A?x=1"
        );
        assert_eq!(
            headers["x-auth-token"],
            "http://127.0.0.1:18080/not-a-url-header"
        );
    }

    #[test]
    fn a_storage_url_on_another_origin_is_left_alone() {
        let (upstream, proxy) = (url("http://127.0.0.1:18080"), url("http://127.0.0.1:4321"));
        for other in [
            "http://127.0.0.1:18081/v1/AUTH_t",
            "https://127.0.0.1:18080/v1/AUTH_t",
            "http://swift.example:18080/v1/AUTH_t",
            "not a url",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("x-storage-url", other.parse().unwrap());
            rewrite_storage_urls(&mut headers, &upstream, &proxy);
            assert_eq!(headers["x-storage-url"], other);
        }
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, x-private"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("x-private", "1"),
            ("x-auth-token", "t"),
            ("content-length", "3"),
        ] {
            headers.insert(name, value.parse().unwrap());
        }
        remove_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "x-auth-token"]);
    }

    #[test]
    fn only_the_swift_auth_url_changes_in_a_config() {
        let (upstream, proxy) = (url("http://127.0.0.1:18080"), url("http://127.0.0.1:4321"));
        let config = "# auth_url = http://127.0.0.1:18080/commented\r\n\
                      [other]\r\nauth_url = http://127.0.0.1:18080/other\r\n\
                      [ swift ]\r\n; a comment\r\nAUTH_URL:http://127.0.0.1:18080/auth/v1.0  \r\n\
                      username = test;tester\r\nno_newline_at_end = 1";
        let rewritten = config_with_auth_url_via(config, &upstream, &proxy).unwrap();
        assert_eq!(
            rewritten,
            config.replace(
                "AUTH_URL:http://127.0.0.1:18080/auth/v1.0  ",
                "AUTH_URL:http://127.0.0.1:4321/auth/v1.0  "
            )
        );
    }

    #[test]
    fn a_config_without_a_matching_auth_url_is_refused() {
        let (upstream, proxy) = (url("http://127.0.0.1:18080"), url("http://127.0.0.1:4321"));
        let missing = "[swift]\nusername = u\n[other]\nauth_url = http://127.0.0.1:18080/a\n";
        assert_eq!(
            config_with_auth_url_via(missing, &upstream, &proxy),
            Err(AuthUrlError::Missing)
        );
        let other = "[swift]\nauth_url = http://keystone:5000/v3\n";
        assert_eq!(
            config_with_auth_url_via(other, &upstream, &proxy),
            Err(AuthUrlError::OtherOrigin {
                auth_url: "http://keystone:5000/v3".into(),
                line: 2,
                upstream: "http://127.0.0.1:18080/".into(),
            })
        );
    }
}
