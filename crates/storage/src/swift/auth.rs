//! Getting a token and the storage URL: Swift tempauth (v1), Keystone v2.0 and Keystone v3.
//!
//! The request and the catalog search are separate so that the catalog rules (service type
//! `object-store`, the configured region and endpoint interface) are plain functions over the
//! parsed document. Errors name the user and the auth URL and say what to check; they never
//! contain the password or a token (bodies quoted from the auth service are scrubbed of both).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::json;
use swiftgit_config::{AuthVersion, Secret, SwiftConfig};

use super::catalog;
use super::stats::Counters;
use super::status::excerpt;
use crate::{ErrorKind, Result, StorageError};

/// What a successful authentication yields.
#[derive(Debug)]
pub(crate) struct Grant {
    pub token: Secret,
    pub storage_url: Url,
}

/// Authenticates with the method `config.auth_version` names.
pub(crate) async fn authenticate(
    http: &reqwest::Client,
    config: &SwiftConfig,
    timeout: Duration,
    counters: &Counters,
) -> Result<Grant> {
    counters.auth();
    counters.request();
    let who = Who::new(config);
    let request = match config.auth_version {
        AuthVersion::V1 => http
            .get(&config.auth_url)
            .header("X-Auth-User", config.v1_user())
            .header("X-Auth-Key", sensitive(config.password.expose(), &who)?),
        AuthVersion::V2 => {
            let document = json!({"auth": {
                "passwordCredentials": {
                    "username": config.user,
                    "password": config.password.expose(),
                },
                "tenantName": config.tenant.as_deref().unwrap_or_default(),
            }});
            counters.sent(document.to_string().len() as u64);
            http.post(join(&config.auth_url, "tokens")).json(&document)
        }
        AuthVersion::V3 => {
            let document = json!({"auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {
                        "name": config.user,
                        "domain": {"name": config.user_domain_name},
                        "password": config.password.expose(),
                    }},
                },
                "scope": {"project": {
                    "name": config.tenant.as_deref().unwrap_or_default(),
                    "domain": {"name": config.project_domain_name},
                }},
            }});
            counters.sent(document.to_string().len() as u64);
            http.post(join(&config.auth_url, "auth/tokens"))
                .json(&document)
        }
    };
    let response = request.timeout(timeout).send().await.map_err(|e| {
        let what = if e.is_timeout() {
            format!(
                "the auth service at {} did not answer within {timeout:?}",
                who.auth_url
            )
        } else {
            format!("cannot reach the auth service at {}", who.auth_url)
        };
        StorageError::with_source(
            ErrorKind::Unavailable,
            format!(
                "{what} (check auth_url and auth_ver in the config, and that the service is \
                 running and reachable from here)"
            ),
            e,
        )
    })?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|e| {
        StorageError::with_source(
            ErrorKind::Unavailable,
            format!(
                "reading the answer of the auth service at {} failed",
                who.auth_url
            ),
            e,
        )
    })?;
    counters.received(body.len() as u64);
    if !status.is_success() {
        return Err(who.refused(status, &body, config));
    }
    match config.auth_version {
        AuthVersion::V1 => v1_grant(&headers, &who),
        AuthVersion::V2 => {
            let document: V2Document = parse(&body, &who)?;
            let storage_url = catalog::select_v2(
                &document.access.service_catalog,
                &config.region_name,
                config.endpoint_type,
                &who,
            )?;
            Ok(Grant {
                token: Secret::new(document.access.token.id),
                storage_url: parse_url(&storage_url, &who)?,
            })
        }
        AuthVersion::V3 => {
            let token = header(&headers, "X-Subject-Token")
                .ok_or_else(|| who.incomplete("no X-Subject-Token header"))?;
            let document: V3Document = parse(&body, &who)?;
            let storage_url = catalog::select_v3(
                &document.token.catalog,
                &config.region_name,
                config.endpoint_type,
                &who,
            )?;
            Ok(Grant {
                token: Secret::new(token),
                storage_url: parse_url(&storage_url, &who)?,
            })
        }
    }
}

/// Who is authenticating where, for messages.
pub(crate) struct Who {
    pub(crate) user: String,
    pub(crate) auth_url: String,
}

impl Who {
    pub(crate) fn new(config: &SwiftConfig) -> Who {
        let user = match (config.auth_version, &config.tenant) {
            (AuthVersion::V1, _) => config.v1_user(),
            (AuthVersion::V2, Some(tenant)) => format!("{} (tenant {tenant})", config.user),
            (AuthVersion::V3, Some(project)) => format!(
                "{} (domain {}, project {project} in domain {})",
                config.user, config.user_domain_name, config.project_domain_name
            ),
            (_, None) => config.user.clone(),
        };
        Who {
            user,
            auth_url: without_userinfo(&config.auth_url),
        }
    }

    fn refused(&self, status: StatusCode, body: &[u8], config: &SwiftConfig) -> StorageError {
        let Who { user, auth_url } = self;
        match status {
            StatusCode::UNAUTHORIZED => StorageError::new(
                ErrorKind::Unauthorized,
                format!(
                    "authentication failed for user {user} at {auth_url} (HTTP 401): check \
                     username and password in the config"
                ),
            ),
            StatusCode::FORBIDDEN => StorageError::new(
                ErrorKind::Forbidden,
                format!(
                    "the auth service at {auth_url} refused user {user} (HTTP 403): the user \
                     may be disabled or lack a role in the project"
                ),
            ),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => StorageError::new(
                ErrorKind::Invalid,
                format!(
                    "the auth service at {auth_url} answered HTTP {status}: check auth_url and \
                     auth_ver in the config (v1 sends GET to auth_url, v2 POSTs to \
                     auth_url/tokens, v3 to auth_url/auth/tokens)"
                ),
            ),
            _ => {
                let kind = if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    ErrorKind::Unavailable
                } else {
                    ErrorKind::Other
                };
                let quoted = scrub(&excerpt(body), config.password.expose());
                StorageError::new(
                    kind,
                    format!(
                        "authenticating user {user} at {auth_url} failed with HTTP {status}: \
                         {quoted}"
                    ),
                )
            }
        }
    }

    fn incomplete(&self, what: &str) -> StorageError {
        StorageError::new(
            ErrorKind::Other,
            format!(
                "the auth service at {} accepted user {} but its answer is unusable: {what}; is \
                 auth_ver right?",
                self.auth_url, self.user
            ),
        )
    }
}

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.user)
    }
}

fn v1_grant(headers: &HeaderMap, who: &Who) -> Result<Grant> {
    let storage_url = header(headers, "X-Storage-Url")
        .ok_or_else(|| who.incomplete("no X-Storage-Url header"))?;
    let token = header(headers, "X-Auth-Token")
        .or_else(|| header(headers, "X-Storage-Token"))
        .ok_or_else(|| who.incomplete("no X-Auth-Token header"))?;
    Ok(Grant {
        token: Secret::new(token),
        storage_url: parse_url(&storage_url, who)?,
    })
}

fn sensitive(value: &str, who: &Who) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        StorageError::new(
            ErrorKind::Invalid,
            format!(
                "the password of user {} cannot be sent in an HTTP header (control characters?)",
                who.user
            ),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|v| !v.is_empty())
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], who: &Who) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| who.incomplete(&format!("unexpected JSON ({e})")))
}

fn parse_url(url: &str, who: &Who) -> Result<Url> {
    Url::parse(url).map_err(|e| who.incomplete(&format!("storage URL {url:?} is invalid ({e})")))
}

/// `base/path`, with exactly one `/` between.
fn join(base: &str, path: &str) -> String {
    format!("{}/{path}", base.trim_end_matches('/'))
}

/// The URL without a user name or password, should one be written into it.
fn without_userinfo(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// `text` with every occurrence of `secret` replaced by `***`.
pub(crate) fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, "***")
    }
}

#[derive(Deserialize)]
struct V2Document {
    access: V2Access,
}

#[derive(Deserialize)]
struct V2Access {
    token: V2Token,
    #[serde(rename = "serviceCatalog", default)]
    service_catalog: Vec<catalog::V2Service>,
}

#[derive(Deserialize)]
struct V2Token {
    id: String,
}

#[derive(Deserialize)]
struct V3Document {
    token: V3Token,
}

#[derive(Deserialize)]
struct V3Token {
    #[serde(default)]
    catalog: Vec<catalog::V3Service>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_dropped_from_urls_in_messages() {
        assert_eq!(
            without_userinfo("http://u:secret@host:5000/v3"),
            "http://host:5000/v3"
        );
        assert_eq!(
            scrub("bad password hunter2!", "hunter2"),
            "bad password ***!"
        );
    }
}
