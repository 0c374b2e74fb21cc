//! The accept loop shared by the transports: at most `max_connections` served at once (further
//! clients wait in the kernel's backlog, not in our memory), each connection's task owned by a
//! `JoinSet`, and a shutdown future that stops accepting and then waits up to a grace period for
//! the connections in flight.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use swiftgit_config::sections::daemon;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::observer::{NoObserver, Refusal, ServerObserver, Transport};

/// Limits shared by every transport.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// How long in-flight connections may run after shutdown begins before they are dropped.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: const { daemon::MAX_CONNECTIONS.default_number() as usize },
            shutdown_grace: Duration::from_secs(const { daemon::SHUTDOWN_GRACE.default_number() }),
        }
    }
}

/// Who hears of the connections a listener accepts, closes and fails to accept.
#[derive(Debug, Clone)]
pub struct ConnectionEvents {
    pub transport: Transport,
    pub observer: Arc<dyn ServerObserver>,
}

impl ConnectionEvents {
    /// Events nobody hears (for tests).
    pub fn unobserved(transport: Transport) -> ConnectionEvents {
        ConnectionEvents {
            transport,
            observer: Arc::new(NoObserver),
        }
    }
}

/// A connection being served: opened when made, closed when dropped (also when its task is
/// aborted at the end of the grace period).
struct OpenConnection(ConnectionEvents);

impl OpenConnection {
    fn new(events: ConnectionEvents) -> OpenConnection {
        events.observer.connection_opened(events.transport);
        OpenConnection(events)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.observer.connection_closed(self.0.transport);
    }
}

/// Serves `listener` until `shutdown` completes, calling `handle` for each connection on its
/// own task, and telling `events` of each connection opened and closed. Returns after every
/// connection has finished or the grace period ran out.
pub async fn serve<H, Fut>(
    listener: TcpListener,
    limits: ConnectionLimits,
    events: ConnectionEvents,
    shutdown: impl Future<Output = ()>,
    handle: H,
) where
    H: Fn(TcpStream, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => {
                permit.expect("holds because the semaphore is never closed")
            }
        };
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let connection = handle(stream, peer);
                let open = OpenConnection::new(events.clone());
                connections.spawn(async move {
                    connection.await;
                    drop(open);
                    drop(permit);
                });
            }
            Err(e) => {
                let observer = &events.observer;
                observer.connection_refused(events.transport, Refusal::AcceptError);
                // EMFILE and friends: wait a little instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Reap finished tasks so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.try_join_next().is_some() {}
    if !connections.is_empty() {
        tracing::info!(
            in_flight = connections.len(),
            "shutting down: waiting for connections in flight"
        );
    }
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            dropped = connections.len(),
            "shutdown grace period over: dropping connections"
        );
        connections.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn serves_until_shutdown_then_finishes_in_flight_work() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            ConnectionLimits {
                max_connections: 2,
                shutdown_grace: Duration::from_secs(5),
            },
            ConnectionEvents::unobserved(Transport::Git),
            async move {
                let _ = stop_rx.await;
            },
            |mut stream: TcpStream, _| async move {
                let mut byte = [0u8; 1];
                if stream.read_exact(&mut byte).await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let _ = stream.write_all(&byte).await;
                }
            },
        ));
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"x").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop_tx.send(()).unwrap();
        let mut echoed = [0u8; 1];
        client.read_exact(&mut echoed).await.unwrap();
        assert_eq!(
            &echoed, b"x",
            "the in-flight connection completes after shutdown begins"
        );
        server.await.unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer accepting"
        );
    }
}
