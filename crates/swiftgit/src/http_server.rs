//! Builds the smart HTTP server of `swiftgit daemon --http ADDR:PORT` from its settings:
//! TLS, the users file, Keystone and the access rules.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use swiftgit_server::http::auth::Authenticator;
use swiftgit_server::http::keystone::Keystone;
use swiftgit_server::http::throttle::LoginLimit;
use swiftgit_server::http::users::UsersFile;
use swiftgit_server::http::{HttpOptions, HttpServer, tls};
use swiftgit_server::listener::ConnectionLimits;
use swiftgit_server::registry::Registry;
use swiftgit_server::session::receive_pack::ReceivePackOptions;

use crate::http_settings::HttpSettings;
use crate::settings::DaemonSettings;

/// The HTTP server for `http` (with the connection limits, read-only flag and push policy of
/// `daemon`).
pub fn build(
    registry: Arc<Registry>,
    daemon: &DaemonSettings,
    http: &HttpSettings,
) -> anyhow::Result<Arc<HttpServer>> {
    let tls = match &http.tls {
        Some((cert, key)) => Some(tls::server_config(cert, key)?),
        None => None,
    };
    let users = match &http.users_file {
        Some(path) => Some(UsersFile::open(path)?),
        None => None,
    };
    let keystone = match &http.keystone_url {
        Some(url) => Some(
            Keystone::new(
                url,
                &http.keystone_user_domain,
                http.keystone_project.clone(),
                Duration::from_secs(20),
            )
            .context("cannot build the Keystone client")?,
        ),
        None => None,
    };
    let auth = Authenticator::new(users, keystone);
    if !auth.has_backends() {
        tracing::warn!(
            "HTTP: no [http] users_file and no keystone: only anonymous reads are possible"
        );
    }
    let options = HttpOptions {
        limits: ConnectionLimits {
            max_connections: daemon.max_connections,
            shutdown_grace: daemon.shutdown_grace,
        },
        header_timeout: http.header_timeout,
        idle_timeout: http.idle_timeout,
        max_body_bytes: http.max_body_bytes,
        read_only: daemon.read_only,
        access: http.access.clone(),
        receive_pack: ReceivePackOptions {
            policy: daemon.policy.clone(),
            ..ReceivePackOptions::default()
        },
        tls,
        login_limit: LoginLimit {
            burst: http.login_failures,
            ..LoginLimit::default()
        },
        ..HttpOptions::default()
    };
    Ok(HttpServer::new(registry, options, auth))
}
