//! Listings: JSON pages of at most `listing_page_size` names, followed with `marker` until a
//! short page, all pages returned. Container listings are eventually consistent in Swift: a
//! name written a moment ago may be missing, a name deleted a moment ago may still appear.

use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::SwiftStorage;
use super::client::{Call, Target};
use super::names::SEGMENT_PREFIX;
use crate::{ErrorKind, ObjectMeta, Result, StorageError};

/// One name of a container or account listing.
#[derive(Debug, Deserialize)]
pub(super) struct Entry {
    pub name: String,
    #[serde(default)]
    pub bytes: u64,
}

impl SwiftStorage {
    /// Every entry of the listing of `target` (a container or the account) whose name starts
    /// with `prefix`, in Swift's order (by UTF-8 bytes), segments included.
    pub(super) async fn list_all(&self, target: Target<'_>, prefix: &str) -> Result<Vec<Entry>> {
        let mut all = Vec::new();
        let mut marker = String::new();
        loop {
            let mut call = Call::new(Method::GET, target)
                .query("format", "json")
                .query("limit", self.listing_page_size.to_string());
            if !prefix.is_empty() {
                call = call.query("prefix", prefix);
            }
            if !marker.is_empty() {
                call = call.query("marker", marker.clone());
            }
            let reply = self.client.send(&call).await?;
            let page: Vec<Entry> = match reply.status() {
                StatusCode::NO_CONTENT => Vec::new(),
                status if status.is_success() => {
                    let body = reply.bytes().await?;
                    serde_json::from_slice(&body).map_err(|e| {
                        StorageError::with_source(
                            ErrorKind::Other,
                            format!("Swift answered {call} with a listing that is not JSON"),
                            e,
                        )
                    })?
                }
                _ => return Err(reply.into_error(target).await),
            };
            let full = page.len() >= self.listing_page_size;
            if let Some(last) = page.last() {
                marker.clone_from(&last.name);
            }
            all.extend(page);
            if !full {
                return Ok(all);
            }
        }
    }

    pub(super) async fn list_impl(&self, container: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.info.names.check_container(container)?;
        let entries = self.list_all(Target::Container(container), prefix).await?;
        let mut objects: Vec<ObjectMeta> = entries
            .into_iter()
            .filter(|entry| !entry.name.starts_with(SEGMENT_PREFIX))
            .map(|entry| ObjectMeta {
                name: entry.name,
                size: entry.bytes,
            })
            .collect();
        objects.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(objects)
    }

    pub(super) async fn list_containers_impl(&self) -> Result<Vec<String>> {
        let entries = self.list_all(Target::Account, "").await?;
        let mut names: Vec<String> = entries.into_iter().map(|entry| entry.name).collect();
        names.sort_unstable();
        Ok(names)
    }
}
