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
//! object, reports success: the earlier attempt most likely deleted it.

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;

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
        Retrying { inner, policy }
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
        run(&self.policy, &what, Idempotence::Always, None, || {
            self.inner.create_container(container)
        })
        .await
    }

    async fn container_exists(&self, container: &str) -> Result<bool> {
        let what = Op("check container", container, None);
        run(&self.policy, &what, Idempotence::Always, None, || {
            self.inner.container_exists(container)
        })
        .await
    }

    async fn delete_container(&self, container: &str) -> Result<()> {
        let what = Op("delete container", container, None);
        run(
            &self.policy,
            &what,
            Idempotence::Always,
            Some(|| ()),
            || self.inner.delete_container(container),
        )
        .await
    }

    async fn list_containers(&self) -> Result<Vec<String>> {
        let what = Op("list containers", "", None);
        run(&self.policy, &what, Idempotence::Always, None, || {
            self.inner.list_containers()
        })
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
        run(&self.policy, &what, idempotence, None, || {
            self.inner.put(container, name, payload.clone(), mode)
        })
        .await
    }

    /// Retries until the body starts; a failure while streaming the body is not retried.
    async fn get(&self, container: &str, name: &str) -> Result<GetResult> {
        let what = Op("get", container, Some(name));
        run(&self.policy, &what, Idempotence::Always, None, || {
            self.inner.get(container, name)
        })
        .await
    }

    async fn get_range(&self, container: &str, name: &str, range: Range<u64>) -> Result<Bytes> {
        let what = Op("get range of", container, Some(name));
        run(&self.policy, &what, Idempotence::Always, None, || {
            self.inner.get_range(container, name, range.clone())
        })
        .await
    }

    async fn head(&self, container: &str, name: &str) -> Result<ObjectMeta> {
        let what = Op("head", container, Some(name));
        run(&self.policy, &what, Idempotence::Always, None, || {
            self.inner.head(container, name)
        })
        .await
    }

    async fn delete(&self, container: &str, name: &str) -> Result<()> {
        let what = Op("delete", container, Some(name));
        run(
            &self.policy,
            &what,
            Idempotence::Always,
            Some(|| ()),
            || self.inner.delete(container, name),
        )
        .await
    }

    async fn list(&self, container: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let what = Op("list", container, None);
        run(&self.policy, &what, Idempotence::Always, None, || {
            self.inner.list(container, prefix)
        })
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
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::StorageError;
    use crate::memory::MemoryStorage;

    /// A failure to inject: its kind, whether the backend notes it as not sent, and whether
    /// the operation took effect before failing.
    #[derive(Debug, Clone, Copy)]
    struct Fault {
        kind: ErrorKind,
        not_sent: bool,
        took_effect: bool,
    }

    const LOST_ANSWER: Fault = Fault {
        kind: ErrorKind::Unavailable,
        not_sent: false,
        took_effect: true,
    };
    const REFUSED: Fault = Fault {
        kind: ErrorKind::Unavailable,
        not_sent: true,
        took_effect: false,
    };
    const MAYBE_SENT: Fault = Fault {
        kind: ErrorKind::Unavailable,
        not_sent: false,
        took_effect: false,
    };

    /// Memory storage whose `put` and `delete` first fail with the scripted faults.
    #[derive(Debug, Default)]
    struct Flaky {
        inner: MemoryStorage,
        faults: Mutex<VecDeque<Fault>>,
        calls: AtomicU32,
    }

    impl Flaky {
        fn new(faults: &[Fault]) -> Self {
            Flaky {
                faults: Mutex::new(faults.iter().copied().collect()),
                ..Flaky::default()
            }
        }

        fn next_fault(&self) -> Option<Fault> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.faults
                .lock()
                .expect("holds because no test panics holding it")
                .pop_front()
        }

        async fn inject<T>(&self, fault: Fault, op: impl Future<Output = Result<T>>) -> Result<T> {
            if fault.took_effect {
                op.await?;
            }
            let error = StorageError::new(fault.kind, "injected");
            if fault.not_sent {
                Err(error.mark_not_sent())
            } else {
                Err(error)
            }
        }
    }

    #[async_trait::async_trait]
    impl Storage for Flaky {
        async fn create_container(&self, container: &str) -> Result<bool> {
            self.inner.create_container(container).await
        }
        async fn container_exists(&self, container: &str) -> Result<bool> {
            self.inner.container_exists(container).await
        }
        async fn delete_container(&self, container: &str) -> Result<()> {
            self.inner.delete_container(container).await
        }
        async fn list_containers(&self) -> Result<Vec<String>> {
            self.inner.list_containers().await
        }
        async fn put(
            &self,
            container: &str,
            name: &str,
            payload: PutPayload,
            mode: PutMode,
        ) -> Result<ObjectMeta> {
            let op = self.inner.put(container, name, payload, mode);
            match self.next_fault() {
                Some(fault) => self.inject(fault, op).await,
                None => op.await,
            }
        }
        async fn get(&self, container: &str, name: &str) -> Result<GetResult> {
            self.inner.get(container, name).await
        }
        async fn get_range(&self, c: &str, name: &str, range: Range<u64>) -> Result<Bytes> {
            self.inner.get_range(c, name, range).await
        }
        async fn head(&self, container: &str, name: &str) -> Result<ObjectMeta> {
            self.inner.head(container, name).await
        }
        async fn delete(&self, container: &str, name: &str) -> Result<()> {
            let op = self.inner.delete(container, name);
            match self.next_fault() {
                Some(fault) => self.inject(fault, op).await,
                None => op.await,
            }
        }
        async fn list(&self, container: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
            self.inner.list(container, prefix).await
        }

        async fn offer_copy(&self, container: &str, name: &str, bytes: Bytes) {
            self.inner.offer_copy(container, name, bytes).await
        }
    }

    async fn store(faults: &[Fault], max_attempts: u32) -> Retrying<Flaky> {
        let flaky = Flaky::new(faults);
        flaky.inner.create_container("c").await.expect("memory");
        Retrying::new(flaky, fast_policy(max_attempts))
    }

    #[tokio::test]
    async fn overwrite_is_retried_until_it_succeeds() {
        let store = store(&[MAYBE_SENT, LOST_ANSWER], 4).await;
        let meta = store
            .put("c", "o", "data".into(), PutMode::Overwrite)
            .await
            .expect("third attempt succeeds");
        assert_eq!(meta.size, 4);
        assert_eq!(store.inner().calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn attempts_are_bounded_and_the_last_error_returned() {
        let store = store(&[MAYBE_SENT; 5], 3).await;
        let err = store
            .put("c", "o", "data".into(), PutMode::Overwrite)
            .await
            .expect_err("all attempts fail");
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(store.inner().calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn create_is_not_retried_when_the_request_may_have_been_sent() {
        let store = store(&[LOST_ANSWER], 4).await;
        let err = store
            .put("c", "o", "data".into(), PutMode::Create)
            .await
            .expect_err("not retried");
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(store.inner().calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn create_is_retried_when_the_request_was_not_sent() {
        let store = store(&[REFUSED, REFUSED], 4).await;
        store
            .put("c", "o", "data".into(), PutMode::Create)
            .await
            .expect("third attempt creates it");
        assert_eq!(store.inner().calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let invalid = Fault {
            kind: ErrorKind::Invalid,
            ..REFUSED
        };
        let store = store(&[invalid], 4).await;
        let err = store
            .put("c", "o", "data".into(), PutMode::Overwrite)
            .await
            .expect_err("invalid");
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert_eq!(store.inner().calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn delete_whose_answer_was_lost_counts_as_done() {
        let store = store(&[], 4).await;
        store
            .put("c", "o", "x".into(), PutMode::Create)
            .await
            .expect("put");
        store
            .inner()
            .faults
            .lock()
            .expect("unpoisoned")
            .push_back(LOST_ANSWER);
        store
            .delete("c", "o")
            .await
            .expect("second attempt finds it gone: success");
        assert!(store.head("c", "o").await.is_err());
    }

    #[tokio::test]
    async fn delete_of_a_missing_object_still_reports_not_found() {
        let store = store(&[REFUSED], 4).await;
        let err = store
            .delete("c", "missing")
            .await
            .expect_err("never existed");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = store
            .delete("c", "missing")
            .await
            .expect_err("never existed");
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn delays_grow_with_jitter_and_stay_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for _ in 0..100 {
            let first = policy.delay(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.delay(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            assert!(policy.delay(30) <= Duration::from_secs(1));
        }
    }
}
