//! [`Retrying`]: a storage that retries the temporary failures of another, with jittered
//! exponential backoff — and only where repeating the request cannot do harm.
//!
//! Reads, listings, deletes, container operations and `put` with [`PutMode::Overwrite`] are
//! idempotent and retried on every temporary error ([`ErrorKind::is_temporary`]). A `put` with
//! [`PutMode::Create`] is *not* idempotent in outcome: if the first attempt stored the object
//! but its answer was lost, a second attempt reports [`ErrorKind::AlreadyExists`] although this
//! caller won. So a create is retried only when the backend marked the error
//! ([`crate::StorageError::mark_not_sent`]) as one whose request never reached the service (a
//! refused connection, say); any other failure of a create is returned as is.
//!
//! A delete retried after a failure that may have reached the service, which then finds no
//! object, reports success: the earlier attempt most likely deleted it. `delete_many` is
//! idempotent by contract (absent names count as deleted), so the whole call is repeated on
//! every temporary error.

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;

use crate::observer::{CallKind, StorageObserver};
use crate::{ErrorKind, GetResult, ObjectMeta, PutMode, PutPayload, Result, Storage};

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 disables retrying.
    pub max_attempts: u32,
    /// The delay before the first retry, doubled for each further one (then jittered).
    pub base_delay: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, waiting about 0.2 s, 0.4 s, 0.8 s between them (at most 10 s).
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based): `base_delay * 2^(attempt-1)`, capped
    /// at `max_delay`, then drawn uniformly from its upper half so that clients that failed
    /// together do not retry together.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let half = full / 2;
        let jitter_nanos =
            rand::rng().random_range(0..=half.as_nanos().min(u64::MAX as u128) as u64);
        half + Duration::from_nanos(jitter_nanos)
    }
}

/// What to do with a temporary failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idempotence {
    /// Repeat it.
    Always,
    /// Repeat it only if the backend noted it was not sent.
    OnlyIfNotSent,
}

/// Calls `op` until it succeeds, fails for good, or `policy.max_attempts` are used up. Logs
/// each retry at warn. `on_not_found_after_retry` turns a NotFound after an attempt that may
/// have reached the service into a success (for deletes).
async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    what: &(dyn fmt::Display + Sync),
    idempotence: Idempotence,
    on_not_found_after_retry: Option<fn() -> T>,
    mut op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut number = 1;
    let mut maybe_done = false;
    loop {
        let err = match op().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        let not_sent = err.is_not_sent();
        if err.kind() == ErrorKind::NotFound
            && maybe_done
            && let Some(success) = on_not_found_after_retry
        {
            tracing::info!(%what, "not found after a retried attempt: the earlier attempt did it");
            return Ok(success());
        }
        let allowed = match idempotence {
            Idempotence::Always => true,
            Idempotence::OnlyIfNotSent => not_sent,
        };
        if !err.is_temporary() || !allowed || number >= policy.max_attempts {
            return Err(err);
        }
        maybe_done |= !not_sent;
        let delay = policy.delay(number);
        tracing::warn!(
            attempt = number,
            max_attempts = policy.max_attempts,
            error = %err,
            "{what} failed; retrying in {delay:?}"
        );
        tokio::time::sleep(delay).await;
        number += 1;
    }
}

/// Retries for any caller, e.g. a backend's own sub-requests (segment uploads): `op` is
/// idempotent and repeated on every temporary error.
pub(crate) async fn retry_idempotent<T, F, Fut>(
    policy: &RetryPolicy,
    what: &(dyn fmt::Display + Sync),
    op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    run(policy, what, Idempotence::Always, None, op).await
}

/// A storage whose temporary failures are retried per a [`RetryPolicy`] (see the module doc
/// for which operations are retried). Each method has the atomicity of the inner storage's;
/// the retries themselves add none, but a retried operation may take up to
/// `max_attempts` times as long plus the delays.
pub struct Retrying<S> {
    inner: S,
    policy: RetryPolicy,
    observer: Option<Arc<dyn StorageObserver>>,
}

impl<S: fmt::Debug> fmt::Debug for Retrying<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retrying")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish()
    }
}

impl<S: Storage> Retrying<S> {
    pub fn new(inner: S, policy: RetryPolicy) -> Self {
        Retrying {
            inner,
            policy,
            observer: None,
        }
    }

    /// Also tells `observer` of each retry.
    pub fn with_observer(mut self, observer: Arc<dyn StorageObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// `op`, telling the observer of every call after the first (each is a retry).
    fn attempts<'a, T, F, Fut>(&'a self, kind: CallKind, mut op: F) -> impl FnMut() -> Fut + 'a
    where
        F: FnMut() -> Fut + 'a,
        Fut: Future<Output = Result<T>>,
    {
        let mut first = true;
        move || {
            if !std::mem::take(&mut first)
                && let Some(observer) = &self.observer
            {
                observer.retry(kind);
            }
            op()
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn into_inner(self) -> S {
        self.inner
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }
}

struct Op<'a>(&'static str, &'a str, Option<&'a str>);

impl fmt::Display for Op<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.2 {
            Some(name) => write!(f, "{} {}/{name}", self.0, self.1),
            None => write!(f, "{} {}", self.0, self.1),
        }
    }
}

#[async_trait::async_trait]
impl<S: Storage> Storage for Retrying<S> {
    /// After a retry the answer is the last attempt's: `false` if an earlier attempt whose
    /// answer was lost created the container.
    async fn create_container(&self, container: &str) -> Result<bool> {
        let what = Op("create container", container, None);
        run(
            &self.policy,
            &what,
            Idempotence::Always,
            None,
            self.attempts(CallKind::Container, || {
                self.inner.create_container(container)
            }),
        )
        .await
    }

    async fn container_exists(&self, container: &str) -> Result<bool> {
        let what = Op("check container", container, None);
        run(
            &self.policy,
            &what,
            Idempotence::Always,
            None,
            self.attempts(CallKind::Container, || {
                self.inner.container_exists(container)
            }),
        )
        .await
    }

    async fn delete_container(&self, container: &str) -> Result<()> {
        let what = Op("delete container", container, None);
        run(
            &self.policy,
            &what,
            Idempotence::Always,
            Some(|| ()),
            self.attempts(CallKind::Container, || {
                self.inner.delete_container(container)
            }),
        )
        .await
    }

    async fn list_containers(&self) -> Result<Vec<String>> {
        let what = Op("list containers", "", None);
        run(
            &self.policy,
            &what,
            Idempotence::Always,
            None,
            self.attempts(CallKind::Container, || self.inner.list_containers()),
        )
        .await
    }

    /// [`PutMode::Overwrite`] is retried on temporary errors; [`PutMode::Create`] only when the
    /// backend marked the failure as never sent ([`crate::StorageError::mark_not_sent`]).
    async fn put(
        &self,
        container: &str,
        name: &str,
        payload: PutPayload,
        mode: PutMode,
    ) -> Result<ObjectMeta> {
        let what = Op("put", container, Some(name));
        let idempotence = match mode {
            PutMode::Overwrite => Idempotence::Always,
            PutMode::Create => Idempotence::OnlyIfNotSent,
        };
        run(
            &self.policy,
            &what,
            idempotence,
            None,
            self.attempts(CallKind::Put, || {
                self.inner.put(container, name, payload.clone(), mode)
            }),
        )
        .await
    }

    /// Retries until the body starts; a failure while streaming the body is not retried.
    async fn get(&self, container: &str, name: &str) -> Result<GetResult> {
        let what = Op("get", container, Some(name));
        run(
            &self.policy,
            &what,
            Idempotence::Always,
            None,
            self.attempts(CallKind::Get, || self.inner.get(container, name)),
        )
        .await
    }

    async fn get_range(&self, container: &str, name: &str, range: Range<u64>) -> Result<Bytes> {
        let what = Op("get range of", container, Some(name));
        run(
            &self.policy,
            &what,
            Idempotence::Always,
            None,
            self.attempts(CallKind::GetRange, || {
                self.inner.get_range(container, name, range.clone())
            }),
        )
        .await
    }

    async fn head(&self, container: &str, name: &str) -> Result<ObjectMeta> {
        let what = Op("head", container, Some(name));
        run(
            &self.policy,
            &what,
            Idempotence::Always,
            None,
            self.attempts(CallKind::Head, || self.inner.head(container, name)),
        )
        .await
    }

    async fn delete(&self, container: &str, name: &str) -> Result<()> {
        let what = Op("delete", container, Some(name));
        run(
            &self.policy,
            &what,
            Idempotence::Always,
            Some(|| ()),
            self.attempts(CallKind::Delete, || self.inner.delete(container, name)),
        )
        .await
    }

    /// The whole call is repeated on a temporary error; the count returned is the last
    /// attempt's, so objects that a failed attempt removed are not counted.
    async fn delete_many(&self, container: &str, names: &[String]) -> Result<u64> {
        let what = Op("delete many objects of", container, None);
        run(
            &self.policy,
            &what,
            Idempotence::Always,
            None,
            self.attempts(CallKind::DeleteMany, || {
                self.inner.delete_many(container, names)
            }),
        )
        .await
    }

    async fn list(&self, container: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let what = Op("list", container, None);
        run(
            &self.policy,
            &what,
            Idempotence::Always,
            None,
            self.attempts(CallKind::List, || self.inner.list(container, prefix)),
        )
        .await
    }

    async fn offer_copy(&self, container: &str, name: &str, bytes: Bytes) {
        self.inner.offer_copy(container, name, bytes).await
    }
}

/// A policy that retries at once, for tests.
#[cfg(test)]
pub(crate) fn fast_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
    }
}

#[cfg(test)]
mod tests;
