//! The config sections of the smart HTTP server: `[http]` and `[access "PATTERN"]` (their
//! keys, defaults and docs: [`swiftgit_config::sections::http`] and
//! [`swiftgit_config::sections::access`]).

use std::path::PathBuf;
use std::time::Duration;

use swiftgit_config::sections::{access, http};
use swiftgit_config::{AuthVersion, Config, ConfigError, StorageConfig};
use swiftgit_server::http::access::{AccessRule, AccessRules, DefaultAccess, parse_user_list};

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

impl HttpSettings {
    /// Reads `[http]` and the `[access …]` sections; `listen_flag` (`--http`) wins over
    /// `[http] listen`.
    pub fn load(config: &Config, listen_flag: Option<&str>) -> Result<HttpSettings, ConfigError> {
        let reader = config.section(&http::TABLE);
        let path = |key| reader.optional(key).map(PathBuf::from);
        let tls = match (path(http::TLS_CERT), path(http::TLS_KEY)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => return Err(reader.missing(http::TLS_KEY)),
            (None, Some(_)) => return Err(reader.missing(http::TLS_CERT)),
        };
        let keystone_url = match reader.text(http::KEYSTONE).as_deref() {
            None | Some("false" | "no" | "off" | "0") => None,
            Some("true" | "yes" | "on" | "1") => match &config.storage {
                StorageConfig::Swift(swift) if swift.auth_version == AuthVersion::V3 => {
                    Some(swift.auth_url.clone())
                }
                _ => {
                    return Err(reader.invalid(
                        http::KEYSTONE,
                        "`true` needs a [swift] section with auth_ver = 3; give the URL instead",
                    ));
                }
            },
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                Some(url.to_owned())
            }
            Some(_) => {
                return Err(reader.invalid(http::KEYSTONE, "expected true, false or a URL"));
            }
        };
        let keystone_user_domain = reader.string(http::KEYSTONE_USER_DOMAIN)?;
        let keystone_project = reader
            .optional(http::KEYSTONE_PROJECT)
            .map(|project| (project, keystone_user_domain.clone()));
        let anonymous_read = reader.boolean(http::ANONYMOUS_READ)?;
        let default_access = match reader.string(http::DEFAULT_ACCESS)?.as_str() {
            "none" => DefaultAccess::None,
            "read" => DefaultAccess::Read,
            "write" => DefaultAccess::Write,
            _ => {
                return Err(reader.invalid(http::DEFAULT_ACCESS, "expected none, read or write"));
            }
        };
        Ok(HttpSettings {
            listen: listen_flag
                .map(str::to_owned)
                .or_else(|| reader.text(http::LISTEN)),
            tls,
            max_body_bytes: reader.positive(http::MAX_BODY_BYTES)? as u64,
            users_file: path(http::USERS_FILE),
            keystone_url,
            keystone_user_domain,
            keystone_project,
            header_timeout: Duration::from_secs(reader.positive(http::HEADER_TIMEOUT)? as u64),
            idle_timeout: Duration::from_secs(reader.positive(http::IDLE_TIMEOUT)? as u64),
            login_failures: u32::try_from(reader.number(http::LOGIN_FAILURES)?)
                .map_err(|_| reader.invalid(http::LOGIN_FAILURES, "too large"))?,
            access: AccessRules {
                rules: access_rules(config)?,
                default_anonymous_read: anonymous_read,
                default_access,
            },
        })
    }
}

fn access_rules(config: &Config) -> Result<Vec<AccessRule>, ConfigError> {
    let mut rules = Vec::new();
    for (pattern, reader) in config.patterned_sections(&access::TABLE) {
        rules.push(AccessRule {
            pattern: pattern.to_owned(),
            read: parse_user_list(&reader.text(access::READ).unwrap_or_default()),
            write: parse_user_list(&reader.text(access::WRITE).unwrap_or_default()),
            anonymous_read: reader.boolean(access::ANONYMOUS_READ)?,
        });
    }
    Ok(rules)
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
            config.warnings,
            ["config file test.conf, line 13: unknown key `foo` in [access \"team-*\"] is ignored"]
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
        let error = HttpSettings::load(&config("[http]\ndefault_access = all\n"), None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "[http] default_access = \"all\" is invalid: expected none, read or write"
            ),
            "{error}"
        );
    }

    #[test]
    fn default_access_is_read_unless_configured() {
        let access = |text: &str| HttpSettings::load(&config(text), None).unwrap().access;
        assert_eq!(access("").default_access, DefaultAccess::Read);
        for (value, expected) in [
            ("none", DefaultAccess::None),
            ("read", DefaultAccess::Read),
            ("write", DefaultAccess::Write),
        ] {
            let text = format!("[http]\ndefault_access = {value}\n");
            assert_eq!(access(&text).default_access, expected, "{value}");
        }
    }
}
