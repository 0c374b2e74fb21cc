//! The `[swift]` section: the seed's 11 keys plus the Keystone v3 domains.

use std::path::Path;
use std::time::Duration;

use crate::error::InvalidValue;
use crate::{ConfigError, Secret, Section};

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
    pub const DEFAULT_REGION: &str = "RegionOne";
    pub const DEFAULT_CONCURRENCY: usize = 10;
    pub const DEFAULT_HTTP_POOL_LENGTH: usize = 10;
    pub const DEFAULT_HTTP_TIMEOUT_SECS: u64 = 20;
    pub const DEFAULT_CHUNK_LENGTH: usize = 12228;
    pub const DEFAULT_CACHE_LENGTH_MIB: usize = 20;
    pub const DEFAULT_DOMAIN: &str = "Default";

    /// `X-Auth-User` for auth v1: `tenant:user` (tempauth's form) or the user alone.
    pub fn v1_user(&self) -> String {
        match &self.tenant {
            Some(tenant) => format!("{tenant}:{}", self.user),
            None => self.user.clone(),
        }
    }

    pub(crate) fn from_section(
        section: &Section,
        path: &Path,
        warnings: &mut Vec<String>,
    ) -> Result<SwiftConfig, ConfigError> {
        let reader = SectionReader {
            section,
            name: "swift",
            path,
        };
        const KNOWN: [&str; 13] = [
            "auth_url",
            "auth_ver",
            "username",
            "password",
            "region_name",
            "endpoint_type",
            "concurrency",
            "http_pool_length",
            "http_timeout",
            "chunk_length",
            "cache_length",
            "user_domain_name",
            "project_domain_name",
        ];
        for key in section.entries.keys() {
            if !KNOWN.contains(&key.as_str()) {
                warnings.push(format!(
                    "config file {}: unknown key `{key}` in [swift] is ignored",
                    path.display()
                ));
            }
        }

        let auth_url = reader.required("auth_url")?;
        if !(auth_url.starts_with("http://") || auth_url.starts_with("https://")) {
            return Err(reader.invalid("auth_url", "expected an http:// or https:// URL"));
        }
        let auth_version = match reader.optional("auth_ver") {
            None => guess_auth_version(&auth_url),
            Some(v) => match v.as_str() {
                "1" | "1.0" => AuthVersion::V1,
                "2" | "2.0" => AuthVersion::V2,
                "3" => AuthVersion::V3,
                _ => return Err(reader.invalid("auth_ver", "expected 1, 2 or 3")),
            },
        };
        let username = reader.required("username")?;
        let (tenant, user) = match username.split_once(';') {
            Some((tenant, user)) => (Some(tenant.trim().to_string()), user.trim().to_string()),
            None => (None, username.clone()),
        };
        if user.is_empty() {
            return Err(reader.invalid("username", "the user name after ';' is empty"));
        }
        if auth_version != AuthVersion::V1 && tenant.as_deref().is_none_or(str::is_empty) {
            return Err(reader.invalid(
                "username",
                "auth v2 and v3 need `tenant;user` (the project, a ';', then the user)",
            ));
        }
        let password = Secret::new(
            section
                .entries
                .get("password")
                .map(|e| e.value.clone())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| reader.missing("password"))?,
        );
        let endpoint_type = match reader.optional("endpoint_type").as_deref() {
            None => EndpointInterface::Internal,
            Some("internalURL" | "internal") => EndpointInterface::Internal,
            Some("publicURL" | "public") => EndpointInterface::Public,
            Some("adminURL" | "admin") => EndpointInterface::Admin,
            Some(_) => {
                return Err(reader.invalid(
                    "endpoint_type",
                    "expected internalURL, publicURL or adminURL",
                ));
            }
        };
        Ok(SwiftConfig {
            auth_url,
            auth_version,
            tenant,
            user,
            password,
            region_name: reader
                .optional("region_name")
                .unwrap_or_else(|| Self::DEFAULT_REGION.into()),
            endpoint_type,
            user_domain_name: reader
                .optional("user_domain_name")
                .unwrap_or_else(|| Self::DEFAULT_DOMAIN.into()),
            project_domain_name: reader
                .optional("project_domain_name")
                .unwrap_or_else(|| Self::DEFAULT_DOMAIN.into()),
            concurrency: reader.positive("concurrency", Self::DEFAULT_CONCURRENCY)?,
            http_pool_length: reader
                .positive("http_pool_length", Self::DEFAULT_HTTP_POOL_LENGTH)?,
            http_timeout: Duration::from_secs(
                reader.positive("http_timeout", Self::DEFAULT_HTTP_TIMEOUT_SECS as usize)? as u64,
            ),
            chunk_length: reader.positive("chunk_length", Self::DEFAULT_CHUNK_LENGTH)?,
            cache_length_mib: reader.number("cache_length", Self::DEFAULT_CACHE_LENGTH_MIB)?,
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

/// Typed reads from one section with errors that name the file, line, key and value.
pub struct SectionReader<'a> {
    pub section: &'a Section,
    pub name: &'a str,
    pub path: &'a Path,
}

impl SectionReader<'_> {
    /// The value, or `None` when the key is absent or empty.
    pub fn optional(&self, key: &str) -> Option<String> {
        self.section
            .entries
            .get(key)
            .map(|e| e.value.clone())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, key: &str) -> Result<String, ConfigError> {
        self.optional(key).ok_or_else(|| self.missing(key))
    }

    /// A non-negative integer, `default` when absent or empty.
    pub fn number(&self, key: &str, default: usize) -> Result<usize, ConfigError> {
        match self.optional(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| self.invalid(key, "expected a whole number")),
        }
    }

    /// Like [`Self::number`], but zero is refused.
    pub fn positive(&self, key: &str, default: usize) -> Result<usize, ConfigError> {
        match self.number(key, default)? {
            0 => Err(self.invalid(key, "must be at least 1")),
            n => Ok(n),
        }
    }

    /// A boolean in configparser's spellings (`yes/no`, `true/false`, `on/off`, `1/0`).
    pub fn boolean(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self
            .optional(key)
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None => Ok(default),
            Some("1" | "yes" | "true" | "on") => Ok(true),
            Some("0" | "no" | "false" | "off") => Ok(false),
            Some(_) => Err(self.invalid(key, "expected true or false")),
        }
    }

    pub fn missing(&self, key: &str) -> ConfigError {
        ConfigError::Missing {
            path: self.path.to_path_buf(),
            section: self.name.to_string(),
            key: Some(key.to_string()),
        }
    }

    /// An error for the value of `key`. Never call it for a secret.
    pub fn invalid(&self, key: &str, reason: &str) -> ConfigError {
        let entry = self.section.entries.get(key);
        ConfigError::InvalidValue(Box::new(InvalidValue {
            path: self.path.to_path_buf(),
            line: entry.map_or(0, |e| e.line),
            section: self.name.to_string(),
            key: key.to_string(),
            value: entry.map(|e| e.value.clone()).unwrap_or_default(),
            reason: reason.to_string(),
        }))
    }
}
