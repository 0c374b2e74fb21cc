//! `Retrying` against a memory storage whose writes fail as scripted: which failures are
//! retried, how often, and what a retried delete (of one object or many) reports.

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

/// Memory storage whose `put`, `delete` and `delete_many` first fail with the scripted faults.
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
    async fn delete_many(&self, container: &str, names: &[String]) -> Result<u64> {
        let op = self.inner.delete_many(container, names);
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
async fn the_observer_hears_each_retry() {
    let recorder = std::sync::Arc::new(crate::observer::Recorder::default());
    let store = store(&[MAYBE_SENT, LOST_ANSWER], 4)
        .await
        .with_observer(recorder.clone());
    store
        .put("c", "o", "data".into(), PutMode::Overwrite)
        .await
        .expect("third attempt succeeds");
    store.head("c", "o").await.expect("no retry");
    let retries = recorder.retries.lock().expect("not poisoned").clone();
    assert_eq!(retries, [CallKind::Put, CallKind::Put]);
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

async fn put_all(store: &Retrying<Flaky>, names: &[String]) {
    for name in names {
        store
            .put("c", name, "x".into(), PutMode::Overwrite)
            .await
            .expect("put");
    }
    store.inner().calls.store(0, Ordering::SeqCst);
}

#[tokio::test]
async fn delete_many_is_retried_whole_on_temporary_errors() {
    let names: Vec<String> = (0..5).map(|i| format!("o{i}")).collect();
    let store = store(&[], 4).await;
    put_all(&store, &names).await;
    store
        .inner()
        .faults
        .lock()
        .expect("unpoisoned")
        .extend([MAYBE_SENT, REFUSED]);
    let removed = store.delete_many("c", &names).await.expect("third attempt");
    assert_eq!(removed, 5);
    assert_eq!(store.inner().calls.load(Ordering::SeqCst), 3);
    assert!(store.list("c", "").await.expect("list").is_empty());
}

#[tokio::test]
async fn delete_many_whose_answer_was_lost_counts_the_last_attempt() {
    let names: Vec<String> = (0..5).map(|i| format!("o{i}")).collect();
    let store = store(&[], 4).await;
    put_all(&store, &names).await;
    store
        .inner()
        .faults
        .lock()
        .expect("unpoisoned")
        .push_back(LOST_ANSWER);
    let removed = store
        .delete_many("c", &names)
        .await
        .expect("second attempt");
    assert_eq!(
        removed, 0,
        "the first attempt removed them; its answer was lost"
    );
    assert_eq!(store.inner().calls.load(Ordering::SeqCst), 2);
    assert!(store.list("c", "").await.expect("list").is_empty());
}

#[tokio::test]
async fn delete_many_of_a_missing_container_is_not_retried() {
    let store = store(&[], 4).await;
    let names = ["o".to_string()];
    let err = store
        .delete_many("missing", &names)
        .await
        .expect_err("no container");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(store.inner().calls.load(Ordering::SeqCst), 1);
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
