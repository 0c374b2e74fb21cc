use super::*;
use std::path::Path;

/// The seed's template, verbatim.
const SEED: &str = "[swift]
# Authentication URL (Keystone or Swift)
auth_url = http://127.0.0.1:5000/v2.0
# Authentication version to use
auth_ver = 2
# The tenant and username separated by a semicolon
username = admin;admin
# The user password
password = pass
# The Object storage region to use (auth v2) (Default RegionOne)
region_name = RegionOne
# The Object storage endpoint URL to use (auth v2) (Default internalURL)
endpoint_type = internalURL
# Concurrency to use for parallel tasks (Default 10)
concurrency = 10
# Size of the HTTP pool (Default 10)
http_pool_length = 10
# Timeout delay for HTTP connections (Default 20)
http_timeout = 20
# Chunk size to read from pack (Bytes) (Default 12228)
chunk_length = 12228
# Cache size (MBytes) (Default 20)
cache_length = 20
";

fn swift(text: &str) -> SwiftConfig {
    match Config::parse(text, Path::new("/etc/swift-dul.conf"))
        .unwrap()
        .storage
    {
        StorageConfig::Swift(s) => s,
        other => panic!("expected swift, got {other:?}"),
    }
}

fn error(text: &str) -> String {
    Config::parse(text, Path::new("/etc/swift-dul.conf"))
        .unwrap_err()
        .to_string()
}

#[test]
fn seed_template_loads_verbatim() {
    let s = swift(SEED);
    assert_eq!(s.auth_url, "http://127.0.0.1:5000/v2.0");
    assert_eq!(s.auth_version, AuthVersion::V2);
    assert_eq!(s.tenant.as_deref(), Some("admin"));
    assert_eq!(s.user, "admin");
    assert_eq!(s.password.expose(), "pass");
    assert_eq!(s.region_name, "RegionOne");
    assert_eq!(s.endpoint_type, EndpointInterface::Internal);
    assert_eq!(s.concurrency, 10);
    assert_eq!(s.http_pool_length, 10);
    assert_eq!(s.http_timeout, std::time::Duration::from_secs(20));
    assert_eq!(s.chunk_length, 12228);
    assert_eq!(s.cache_length_mib, 20);
}

#[test]
fn tenant_and_user_keep_the_semicolon_split() {
    let s = swift(
        "[swift]\nauth_url = http://h/auth/v1.0\nauth_ver = 1\nusername = test;tester\npassword = p\n",
    );
    assert_eq!(s.tenant.as_deref(), Some("test"));
    assert_eq!(s.user, "tester");
    assert_eq!(s.v1_user(), "test:tester");
}

#[test]
fn absent_or_empty_keys_take_the_seed_defaults() {
    let s = swift(
        "[swift]\nauth_url = http://h:5000/v3\nusername = p;u\npassword = x\nregion_name =\nconcurrency =\n",
    );
    assert_eq!(s.auth_version, AuthVersion::V3, "guessed from the URL");
    assert_eq!(s.region_name, "RegionOne");
    assert_eq!(s.concurrency, 10);
    assert_eq!(s.chunk_length, 12228);
    assert_eq!(s.user_domain_name, "Default");
    assert_eq!(s.project_domain_name, "Default");
}

#[test]
fn v3_domains_are_read() {
    let s = swift(
        "[swift]\nauth_url = http://h:5000/v3\nauth_ver = 3\nusername = p;u\npassword = x\nuser_domain_name = Users\nproject_domain_name = Projects\nendpoint_type = publicURL\n",
    );
    assert_eq!(s.user_domain_name, "Users");
    assert_eq!(s.project_domain_name, "Projects");
    assert_eq!(s.endpoint_type, EndpointInterface::Public);
}

#[test]
fn unknown_auth_ver_names_file_key_and_value() {
    let message = error(&SEED.replace("auth_ver = 2", "auth_ver = 4"));
    assert!(message.contains("/etc/swift-dul.conf"), "{message}");
    assert!(message.contains("auth_ver"), "{message}");
    assert!(message.contains("\"4\""), "{message}");
    assert!(message.contains("line 5"), "{message}");
}

#[test]
fn bad_numbers_are_refused() {
    let message = error(&SEED.replace("concurrency = 10", "concurrency = ten"));
    assert!(
        message.contains("concurrency") && message.contains("\"ten\""),
        "{message}"
    );
    let message = error(&SEED.replace("http_timeout = 20", "http_timeout = 0"));
    assert!(message.contains("at least 1"), "{message}");
}

#[test]
fn missing_required_keys_are_named() {
    let message = error("[swift]\nauth_url = http://h/v2.0\nusername = a;b\n");
    assert!(message.contains("`password`"), "{message}");
    let message = error("[other]\nx = 1\n");
    assert!(message.contains("no [swift] section"), "{message}");
}

#[test]
fn v2_without_tenant_is_refused() {
    let message = error(&SEED.replace("username = admin;admin", "username = admin"));
    assert!(message.contains("tenant;user"), "{message}");
}

#[test]
fn password_never_shows_in_debug_or_errors() {
    let secret = "hunter2-very-secret";
    let cfg = Config::parse(
        &SEED.replace("password = pass", &format!("password = {secret}")),
        Path::new("/x"),
    )
    .unwrap();
    assert!(!format!("{cfg:?}").contains(secret));
    if let StorageConfig::Swift(s) = &cfg.storage {
        assert!(!format!("{s:?}").contains(secret));
    }
    let broken = SEED
        .replace("password = pass", &format!("password = {secret}"))
        .replace("auth_ver = 2", "auth_ver = 9");
    assert!(!error(&broken).contains(secret));
}

#[test]
fn unreadable_file_names_the_path() {
    let source = ConfigSource::File("/nonexistent/swiftgit.conf".into());
    let message = Config::load(&source, |_| None).unwrap_err().to_string();
    assert!(message.contains("/nonexistent/swiftgit.conf"), "{message}");
}

#[test]
fn config_location_precedence() {
    let env = |name: &str| match name {
        "SWIFTGIT_CONFIG" => Some("/a.conf".to_string()),
        "DULWICH_SWIFT_CFG" => Some("/b.conf".to_string()),
        _ => None,
    };
    assert_eq!(
        ConfigSource::locate(Some(Path::new("/c.conf")), env),
        ConfigSource::File("/c.conf".into())
    );
    assert_eq!(
        ConfigSource::locate(None, env),
        ConfigSource::File("/a.conf".into())
    );
    let dulwich_only = |name: &str| (name == "DULWICH_SWIFT_CFG").then(|| "/b.conf".to_string());
    assert_eq!(
        ConfigSource::locate(None, dulwich_only),
        ConfigSource::File("/b.conf".into())
    );
    assert_eq!(
        ConfigSource::locate(None, |_| None),
        ConfigSource::EmbeddedDefault
    );
}

#[test]
fn embedded_default_is_a_local_directory() {
    let cfg = Config::load(&ConfigSource::EmbeddedDefault, |_| None).unwrap();
    assert_eq!(
        cfg.storage,
        StorageConfig::Local(LocalConfig {
            path: DEFAULT_DATA_DIR.into()
        })
    );
    let cfg = Config::embedded_default(|n| (n == DATA_DIR_ENV_VAR).then(|| "/srv/git".into()));
    assert_eq!(
        cfg.storage,
        StorageConfig::Local(LocalConfig {
            path: "/srv/git".into()
        })
    );
}

#[test]
fn the_seed_has_no_unknown_key_and_a_typo_is_named() {
    let seed = Config::parse(SEED, Path::new("/etc/swift-dul.conf")).unwrap();
    assert!(seed.warnings.is_empty(), "{:?}", seed.warnings);
    let typo = Config::parse(
        &format!("{SEED}concurency = 4\n"),
        Path::new("/etc/swift-dul.conf"),
    )
    .unwrap();
    assert_eq!(
        typo.warnings,
        [
            "config file /etc/swift-dul.conf, line 24: unknown key `concurency` in [swift] is ignored"
        ]
    );
}
