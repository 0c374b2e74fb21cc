//! Checking a user's name and password against Keystone v3: `POST {auth_url}/auth/tokens`
//! with the password method, unscoped (or scoped to a project when one is configured). 201
//! means the password is right; anything else means it is not (or Keystone is unreachable,
//! which is logged). The token itself is discarded. Successes are cached by the caller.

use std::time::Duration;

use super::auth::Credentials;

/// Where and how to ask Keystone.
#[derive(Debug, Clone)]
pub struct Keystone {
    /// The v3 base URL, e.g. `http://127.0.0.1:5000/v3`.
    auth_url: String,
    /// The domain users belong to (`Default` unless configured).
    user_domain: String,
    /// A project to scope the token to (a user without a role there is refused).
    project: Option<(String, String)>,
    http: reqwest::Client,
}

impl Keystone {
    /// A checker for `auth_url` (`.../v3`); `project` is (name, domain) when scoping.
    pub fn new(
        auth_url: &str,
        user_domain: &str,
        project: Option<(String, String)>,
        timeout: Duration,
    ) -> Result<Keystone, reqwest::Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Keystone {
            auth_url: auth_url.trim_end_matches('/').to_owned(),
            user_domain: user_domain.to_owned(),
            project,
            http,
        })
    }

    /// Whether Keystone accepts `credentials`.
    pub async fn check(&self, credentials: &Credentials) -> bool {
        let mut auth = serde_json::json!({
            "identity": {
                "methods": ["password"],
                "password": {"user": {
                    "name": credentials.user,
                    "domain": {"name": self.user_domain},
                    "password": credentials.password,
                }}
            }
        });
        if let Some((project, domain)) = &self.project {
            auth["scope"] =
                serde_json::json!({"project": {"name": project, "domain": {"name": domain}}});
        }
        let url = format!("{}/auth/tokens?nocatalog", self.auth_url);
        match self
            .http
            .post(&url)
            .json(&serde_json::json!({ "auth": auth }))
            .send()
            .await
        {
            Ok(response) if response.status() == reqwest::StatusCode::CREATED => true,
            Ok(response) => {
                tracing::debug!(user = %credentials.user, status = %response.status(), "Keystone refused");
                false
            }
            Err(error) => {
                tracing::warn!(%url, error = %error.without_url(), "Keystone unreachable");
                false
            }
        }
    }
}
