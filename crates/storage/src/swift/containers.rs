//! Containers: create, check, delete (with everything in them, segments included: in bulk
//! when the cluster allows it, see `bulk.rs`).

use std::time::Duration;

use reqwest::{Method, StatusCode};

use super::SwiftStorage;
use super::client::{Call, Target};
use crate::{ErrorKind, Result, StorageError};

/// Rounds of "list, delete everything, delete the container" before giving up on a container
/// that keeps answering 409 (objects the listing did not show yet, or a writer still adding).
const DELETE_ROUNDS: u32 = 3;

impl SwiftStorage {
    pub(super) async fn create_container_impl(&self, container: &str) -> Result<bool> {
        self.info.names.check_container(container)?;
        let target = Target::Container(container);
        let reply = self.client.send(&Call::new(Method::PUT, target)).await?;
        match reply.status() {
            StatusCode::CREATED => Ok(true),
            status if status.is_success() => Ok(false),
            _ => Err(reply.into_error(target).await),
        }
    }

    pub(super) async fn container_exists_impl(&self, container: &str) -> Result<bool> {
        self.info.names.check_container(container)?;
        let target = Target::Container(container);
        let reply = self.client.send(&Call::new(Method::HEAD, target)).await?;
        match reply.status() {
            status if status.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(reply.into_error(target).await),
        }
    }

    pub(super) async fn delete_container_impl(&self, container: &str) -> Result<()> {
        self.info.names.check_container(container)?;
        let target = Target::Container(container);
        for round in 1..=DELETE_ROUNDS {
            let entries = match self.list_all(target, "").await {
                Ok(entries) => entries,
                // Gone since the first round: someone else finished the job.
                Err(err) if err.kind() == ErrorKind::NotFound && round > 1 => return Ok(()),
                Err(err) => return Err(err),
            };
            let count = entries.len();
            let names: Vec<&str> = entries.iter().map(|entry| entry.name.as_str()).collect();
            self.delete_plain_names(container, &names).await?;
            let reply = self.client.send(&Call::new(Method::DELETE, target)).await?;
            match reply.status() {
                // 404: the listing found it, so someone else deleted it meanwhile.
                status if status.is_success() || status == StatusCode::NOT_FOUND => return Ok(()),
                StatusCode::CONFLICT => {
                    tracing::info!(
                        container,
                        round,
                        deleted = count,
                        "container not empty yet (HTTP 409); listing again"
                    );
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(round))).await;
                }
                _ => return Err(reply.into_error(target).await),
            }
        }
        Err(StorageError::new(
            ErrorKind::Unavailable,
            format!(
                "container {container} still holds objects after {DELETE_ROUNDS} rounds of \
                 deleting them (HTTP 409 Conflict): a writer may still be adding objects, or the \
                 listing lags behind; try again later"
            ),
        ))
    }
}
