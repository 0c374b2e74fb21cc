//! The config sections of the smart HTTP server: `[http]` and `[access "PATTERN"]`.
//!
//! ```ini
//! [http]
//! # ADDR:PORT to serve HTTP(S) on (the --http flag wins). Default: no HTTP server
//! listen = 127.0.0.1:8080
//! # PEM certificate chain and private key: HTTPS when both are set
//! tls_cert = /etc/swiftgit/cert.pem
//! tls_key = /etc/swiftgit/key.pem
//! # Largest request body in bytes (413 beyond). Default 4294967296 (4 GiB)
//! max_body_bytes = 4294967296
//! # NAME:ARGON2-HASH lines, written by `swiftgit user add`
//! users_file = /etc/swiftgit/users
//! # Anonymous reads of repositories that no [access] section matches. Default false
//! anonymous_read = false
//! # Check users not in users_file against Keystone v3: this URL (…/v3), or `true` for the
//! # [swift] auth_url when auth_ver = 3. Default: off
//! keystone = false
//! keystone_user_domain = Default
//! # Seconds to wait for request headers / for more of a request body. Defaults 30 / 60
//! header_timeout = 30
//! idle_timeout = 60
//! # Wrong passwords one address may send before its logins get 429 (one is forgiven every
//! # 6 s). 0 turns the limit off. Default 10
//! login_failures = 10
//!
//! [access "team-*"]
//! read = alice, bob
//! write = alice
//! anonymous_read = false
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use swiftgit_config::{AuthVersion, Config, ConfigError, Section, SectionReader, StorageConfig};
use swiftgit_server::http::access::{AccessRule, AccessRules, parse_user_list};

use crate::settings::unknown_keys;

const HTTP_KEYS: [&str; 12] = [
    "listen",
    "tls_cert",
    "tls_key",
    "max_body_bytes",
    "users_file",
    "anonymous_read",
    "keystone",
    "keystone_user_domain",
    "keystone_project",
    "header_timeout",
    "idle_timeout",
    "login_failures",
];
const ACCESS_KEYS: [&str; 3] = ["read", "write", "anonymous_read"];

/// `[http]` after flags were applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Where to listen; `None`: no HTTP server.
    pub listen: Option<String>,
    /// Certificate and key, both or neither.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub max_body_bytes: u64,
    pub users_file: Option<PathBuf>,
    /// Keystone v3 URL to check users against.
    pub keystone_url: Option<String>,
    pub keystone_user_domain: String,
    /// (project, its domain) to scope Keystone checks to.
    pub keystone_project: Option<(String, String)>,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// Wrong passwords from one address before it must wait; 0: no limit.
    pub login_failures: u32,
    pub access: AccessRules,
}

fn reader<'a>(config: &'a Config, section: &'a Section, name: &'a str) -> SectionReader<'a> {
    SectionReader {
        section,
        name,
        path: config
            .origin
            .as_deref()
            .unwrap_or(Path::new("(embedded default)")),
    }
}

/// Unknown keys of `[http]` and `[access …]`, as warnings.
pub fn warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    for (name, section) in &config.ini.sections {
        let known: &[&str] = if name == "http" {
            &HTTP_KEYS
        } else if access_pattern(name).is_some() {
            &ACCESS_KEYS
        } else {
            continue;
        };
        warnings.extend(unknown_keys(name, section, known));
    }
    warnings
}

/// The pattern of an `access "PATTERN"` section name.
fn access_pattern(section: &str) -> Option<&str> {
    let rest = section.strip_prefix("access")?.trim_start();
    rest.strip_prefix('"')?.strip_suffix('"')
}

impl HttpSettings {
    /// Reads `[http]` and the `[access …]` sections; `listen_flag` (`--http`) wins over
    /// `[http] listen`.
    pub fn load(config: &Config, listen_flag: Option<&str>) -> Result<HttpSettings, ConfigError> {
        let empty = Section::default();
        let section = config.ini.sections.get("http").unwrap_or(&empty);
        let http = reader(config, section, "http");
        let path = |key: &str| http.optional(key).map(PathBuf::from);
        let tls = match (path("tls_cert"), path("tls_key")) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => return Err(http.missing("tls_key")),
            (None, Some(_)) => return Err(http.missing("tls_cert")),
        };
        let keystone_url = match http.optional("keystone").as_deref() {
            None | Some("false" | "no" | "off" | "0") => None,
            Some("true" | "yes" | "on" | "1") => match &config.storage {
                StorageConfig::Swift(swift) if swift.auth_version == AuthVersion::V3 => {
                    Some(swift.auth_url.clone())
                }
                _ => {
                    return Err(http.invalid(
                        "keystone",
                        "`true` needs a [swift] section with auth_ver = 3; give the URL instead",
                    ));
                }
            },
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                Some(url.to_owned())
            }
            Some(_) => return Err(http.invalid("keystone", "expected true, false or a URL")),
        };
        let keystone_project = http.optional("keystone_project").map(|project| {
            let domain = http
                .optional("keystone_user_domain")
                .unwrap_or_else(|| "Default".into());
            (project, domain)
        });
        let anonymous_read = http.boolean("anonymous_read", false)?;
        Ok(HttpSettings {
            listen: listen_flag
                .map(str::to_owned)
                .or_else(|| http.optional("listen")),
            tls,
            max_body_bytes: http.positive("max_body_bytes", 4 << 30)? as u64,
            users_file: path("users_file"),
            keystone_url,
            keystone_user_domain: http
                .optional("keystone_user_domain")
                .unwrap_or_else(|| "Default".into()),
            keystone_project,
            header_timeout: Duration::from_secs(http.positive("header_timeout", 30)? as u64),
            idle_timeout: Duration::from_secs(http.positive("idle_timeout", 60)? as u64),
            login_failures: u32::try_from(http.number("login_failures", 10)?)
                .map_err(|_| http.invalid("login_failures", "too large"))?,
            access: access_rules(config, anonymous_read)?,
        })
    }
}

fn access_rules(config: &Config, default_anonymous_read: bool) -> Result<AccessRules, ConfigError> {
    let mut rules = Vec::new();
    for (name, section) in &config.ini.sections {
        let Some(pattern) = access_pattern(name) else {
            continue;
        };
        let access = reader(config, section, name);
        rules.push(AccessRule {
            pattern: pattern.to_owned(),
            read: parse_user_list(&access.optional("read").unwrap_or_default()),
            write: parse_user_list(&access.optional("write").unwrap_or_default()),
            anonymous_read: access.boolean("anonymous_read", false)?,
        });
    }
    Ok(AccessRules {
        rules,
        default_anonymous_read,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::test_config as config;
    use swiftgit_server::http::access::Permission;

    #[test]
    fn http_and_access_sections() {
        let config = config(
            "[http]\nlisten = 127.0.0.1:0\nusers_file = /tmp/users\nmax_body_bytes = 1000\n\
             [access \"edeploy\"]\nread = alice, bob\nwrite = alice\nanonymous_read = true\n\
             [access \"team-*\"]\nread = *\nfoo = 1\n",
        );
        let settings = HttpSettings::load(&config, None).unwrap();
        assert_eq!(settings.listen.as_deref(), Some("127.0.0.1:0"));
        assert_eq!(settings.max_body_bytes, 1000);
        assert_eq!(settings.login_failures, 10);
        assert_eq!(settings.users_file, Some(PathBuf::from("/tmp/users")));
        assert!(settings.tls.is_none() && settings.keystone_url.is_none());
        let access = &settings.access;
        assert!(access.allows(None, "edeploy", Permission::Read));
        assert!(access.allows(Some("alice"), "edeploy", Permission::Write));
        assert!(!access.allows(Some("bob"), "edeploy", Permission::Write));
        assert!(access.allows(Some("x"), "team-a", Permission::Read));
        assert!(!access.allows(None, "team-a", Permission::Read));
        assert_eq!(
            warnings(&config),
            ["unknown key `foo` in [access \"team-*\"] is ignored"]
        );
        let flagged = HttpSettings::load(&config, Some("0.0.0.0:1")).unwrap();
        assert_eq!(flagged.listen.as_deref(), Some("0.0.0.0:1"));
    }

    #[test]
    fn bad_http_values() {
        let error = HttpSettings::load(&config("[http]\ntls_cert = /a\n"), None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("tls_key"), "{error}");
        let error = HttpSettings::load(&config("[http]\nkeystone = true\n"), None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("keystone"), "{error}");
    }
}
