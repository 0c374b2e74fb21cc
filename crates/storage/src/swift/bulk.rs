//! Deleting many objects of one container, for [`crate::Storage::delete_many`]: each name as
//! `delete` deletes it (with `multipart-manifest=delete`, so a large object's segments go too),
//! up to `concurrency` at a time. A name Swift does not find counts as already deleted.

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt};

use super::SwiftStorage;
use crate::{ErrorKind, Result, StorageError};

impl SwiftStorage {
    pub(super) async fn delete_many_impl(&self, container: &str, names: &[String]) -> Result<u64> {
        self.info.names.check_container(container)?;
        for name in names {
            self.info.names.check_object(container, name)?;
        }
        if names.is_empty() {
            return Ok(0);
        }
        // A name twice could be deleted twice at once, both answered 204: counted once here.
        let mut seen = HashSet::new();
        let names: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|name| seen.insert(*name))
            .collect();
        // Indices rather than references in the stream: a closure taking `&str` trips the
        // compiler's higher-ranked lifetime check inside `async_trait` (as in `slo.rs`).
        let names = &names;
        let removed = futures::stream::iter(0..names.len())
            .map(|i| async move {
                match self.delete_impl(container, names[i]).await {
                    Ok(()) => Ok(1),
                    Err(err) if err.kind() == ErrorKind::NotFound => Ok(0),
                    Err(err) => Err(err),
                }
            })
            .buffer_unordered(self.concurrency)
            .try_fold(0u64, |sum, n| async move { Ok(sum + n) })
            .await?;
        // A missing container answers every delete with 404 too.
        if removed == 0 && !self.container_exists_impl(container).await? {
            return Err(StorageError::container_not_found(container));
        }
        Ok(removed)
    }
}
