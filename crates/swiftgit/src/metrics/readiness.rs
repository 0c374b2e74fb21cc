//! `GET /readyz`: whether this daemon can serve right now. The storage must answer a request
//! that needs valid credentials (a HEAD of a container that need not exist: "absent" is a
//! fine answer, a 401 after re-authenticating or a 5xx is not), and with `[coordinator]` at
//! least one etcd member must know a leader. Each check is bounded by the storage's
//! `http_timeout`, so a Swift that stops answering turns the daemon unready within it.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use swiftgit_etcd::EtcdClient;
use swiftgit_storage::Storage;

/// A container name the probe asks about; it need not exist.
const PROBE_CONTAINER: &str = "swiftgit-readyz-probe";

/// What `/readyz` checks (see the module doc).
#[derive(Debug, Clone)]
pub struct Readiness {
    /// The backend itself, without retries or counters: a probe is not a user's request.
    pub storage: Arc<dyn Storage>,
    pub etcd: Option<EtcdClient>,
    /// The longest each check may take.
    pub timeout: Duration,
}

/// One check's outcome, as the JSON body shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Check {
    fn passed() -> Check {
        Check {
            ok: true,
            error: None,
        }
    }

    fn failed(error: String) -> Check {
        Check {
            ok: false,
            error: Some(error),
        }
    }
}

/// The body of `/readyz`: `{"ready":…,"checks":{"storage":{…},"coordinator":{…}}}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    pub ready: bool,
    pub checks: Checks,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Checks {
    pub storage: Check,
    /// Absent without `[coordinator]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coordinator: Option<Check>,
}

impl Readiness {
    /// Runs the checks, concurrently.
    pub async fn check(&self) -> Report {
        let (storage, coordinator) = tokio::join!(self.check_storage(), self.check_etcd());
        let ready = storage.ok && coordinator.as_ref().is_none_or(|check| check.ok);
        Report {
            ready,
            checks: Checks {
                storage,
                coordinator,
            },
        }
    }

    async fn check_storage(&self) -> Check {
        let probe = self.storage.container_exists(PROBE_CONTAINER);
        match tokio::time::timeout(self.timeout, probe).await {
            Ok(Ok(_)) => Check::passed(),
            Ok(Err(error)) => Check::failed(error.to_string()),
            Err(_) => Check::failed(format!(
                "the storage did not answer within {} s",
                self.timeout.as_secs_f64()
            )),
        }
    }

    async fn check_etcd(&self) -> Option<Check> {
        let etcd = self.etcd.as_ref()?;
        let Ok(statuses) = tokio::time::timeout(self.timeout, etcd.status()).await else {
            return Some(Check::failed(format!(
                "no etcd member answered within {} s",
                self.timeout.as_secs_f64()
            )));
        };
        if statuses
            .iter()
            .any(|(_, status)| status.as_ref().is_ok_and(|status| status.leader != 0))
        {
            return Some(Check::passed());
        }
        let problems: Vec<String> = statuses
            .iter()
            .map(|(endpoint, status)| match status {
                Ok(_) => format!("{endpoint}: no leader"),
                Err(error) => format!("{endpoint}: {error}"),
            })
            .collect();
        Some(Check::failed(format!(
            "no etcd member knows a leader ({})",
            problems.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swiftgit_storage::memory::MemoryStorage;

    #[tokio::test]
    async fn a_storage_that_answers_is_ready() {
        let readiness = Readiness {
            storage: Arc::new(MemoryStorage::new()),
            etcd: None,
            timeout: Duration::from_secs(1),
        };
        let report = readiness.check().await;
        assert!(report.ready);
        assert_eq!(
            serde_json::to_string(&report).expect("serializable"),
            r#"{"ready":true,"checks":{"storage":{"ok":true}}}"#
        );
    }
}
