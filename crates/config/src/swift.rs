//! The `[swift]` section: the seed's 11 keys plus the Keystone v3 domains (their table is
//! [`crate::sections::swift`]).

use std::time::Duration;

use crate::sections::swift;
use crate::{ConfigError, Secret, SectionReader};

/// The auth protocol used to obtain a token and the storage URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthVersion {
    /// Swift tempauth / swauth: `GET auth_url` with `X-Auth-User` and `X-Auth-Key`.
    V1,
    /// Keystone v2.0: `POST auth_url/tokens`.
    V2,
    /// Keystone v3: `POST auth_url/auth/tokens`, password method, project scope.
    V3,
}

/// Which catalog endpoint to use (`endpoint_type`): v2 names them `publicURL`, `internalURL`,
/// `adminURL`; v3 calls the same thing the interface `public`, `internal`, `admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointInterface {
    Public,
    Internal,
    Admin,
}

impl EndpointInterface {
    /// The field name in a Keystone v2.0 catalog endpoint.
    pub fn v2_field(self) -> &'static str {
        match self {
            EndpointInterface::Public => "publicURL",
            EndpointInterface::Internal => "internalURL",
            EndpointInterface::Admin => "adminURL",
        }
    }
    /// The `interface` value in a Keystone v3 catalog endpoint.
    pub fn v3_interface(self) -> &'static str {
        match self {
            EndpointInterface::Public => "public",
            EndpointInterface::Internal => "internal",
            EndpointInterface::Admin => "admin",
        }
    }
}

/// Settings of the Swift backend. Defaults are the seed's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwiftConfig {
    pub auth_url: String,
    pub auth_version: AuthVersion,
    /// The part of `username` before `;` (tenant / project), if any.
    pub tenant: Option<String>,
    /// The part of `username` after `;`, or all of it.
    pub user: String,
    pub password: Secret,
    pub region_name: String,
    pub endpoint_type: EndpointInterface,
    pub user_domain_name: String,
    pub project_domain_name: String,
    /// Parallel requests for one task (segment uploads, cold range reads).
    pub concurrency: usize,
    /// Most HTTP connections open to Swift at once.
    pub http_pool_length: usize,
    pub http_timeout: Duration,
    /// Unit of pack reads, bytes.
    pub chunk_length: usize,
    /// Pack block cache size, MiB.
    pub cache_length_mib: usize,
}

impl SwiftConfig {
    pub const DEFAULT_HTTP_TIMEOUT_SECS: u64 = swift::HTTP_TIMEOUT.default_number();
    pub const DEFAULT_CHUNK_LENGTH: usize = swift::CHUNK_LENGTH.default_number() as usize;
    pub const DEFAULT_CACHE_LENGTH_MIB: usize = swift::CACHE_LENGTH.default_number() as usize;

    /// `X-Auth-User` for auth v1: `tenant:user` (tempauth's form) or the user alone.
    pub fn v1_user(&self) -> String {
        match &self.tenant {
            Some(tenant) => format!("{tenant}:{}", self.user),
            None => self.user.clone(),
        }
    }

    /// Reads `[swift]` through its table.
    pub(crate) fn from_section(reader: &SectionReader<'_>) -> Result<SwiftConfig, ConfigError> {
        let auth_url = reader.required(swift::AUTH_URL)?;
        if !(auth_url.starts_with("http://") || auth_url.starts_with("https://")) {
            return Err(reader.invalid(swift::AUTH_URL, "expected an http:// or https:// URL"));
        }
        let auth_version = match reader.optional(swift::AUTH_VER) {
            None => guess_auth_version(&auth_url),
            Some(v) => match v.as_str() {
                "1" | "1.0" => AuthVersion::V1,
                "2" | "2.0" => AuthVersion::V2,
                "3" => AuthVersion::V3,
                _ => return Err(reader.invalid(swift::AUTH_VER, "expected 1, 2 or 3")),
            },
        };
        let username = reader.required(swift::USERNAME)?;
        let (tenant, user) = match username.split_once(';') {
            Some((tenant, user)) => (Some(tenant.trim().to_string()), user.trim().to_string()),
            None => (None, username.clone()),
        };
        if user.is_empty() {
            return Err(reader.invalid(swift::USERNAME, "the user name after ';' is empty"));
        }
        if auth_version != AuthVersion::V1 && tenant.as_deref().is_none_or(str::is_empty) {
            return Err(reader.invalid(
                swift::USERNAME,
                "auth v2 and v3 need `tenant;user` (the project, a ';', then the user)",
            ));
        }
        let password = Secret::new(reader.required(swift::PASSWORD)?);
        let endpoint_type = match reader.text(swift::ENDPOINT_TYPE).as_deref() {
            Some("internalURL" | "internal") => EndpointInterface::Internal,
            Some("publicURL" | "public") => EndpointInterface::Public,
            Some("adminURL" | "admin") => EndpointInterface::Admin,
            _ => {
                return Err(reader.invalid(
                    swift::ENDPOINT_TYPE,
                    "expected internalURL, publicURL or adminURL",
                ));
            }
        };
        let text = |key| reader.text(key).unwrap_or_default();
        Ok(SwiftConfig {
            auth_url,
            auth_version,
            tenant,
            user,
            password,
            region_name: text(swift::REGION_NAME),
            endpoint_type,
            user_domain_name: text(swift::USER_DOMAIN_NAME),
            project_domain_name: text(swift::PROJECT_DOMAIN_NAME),
            concurrency: reader.positive(swift::CONCURRENCY)?,
            http_pool_length: reader.positive(swift::HTTP_POOL_LENGTH)?,
            http_timeout: Duration::from_secs(reader.positive(swift::HTTP_TIMEOUT)? as u64),
            chunk_length: reader.positive(swift::CHUNK_LENGTH)?,
            cache_length_mib: reader.number(swift::CACHE_LENGTH)?,
        })
    }
}

/// `.../v3` means Keystone v3, `.../v2.0` Keystone v2.0, anything else tempauth.
fn guess_auth_version(auth_url: &str) -> AuthVersion {
    let trimmed = auth_url.trim_end_matches('/');
    if trimmed.ends_with("/v3") {
        AuthVersion::V3
    } else if trimmed.ends_with("/v2.0") {
        AuthVersion::V2
    } else {
        AuthVersion::V1
    }
}
