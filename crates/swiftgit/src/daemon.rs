//! `swiftgit daemon`: serve git:// (unless `--no-git-daemon`) and smart HTTP (with `--http
//! ADDR:PORT` or `[http] listen`) from one process and one set of open repositories, until
//! SIGTERM or SIGINT, then let requests in flight finish (up to `shutdown_grace`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use swiftgit_config::{Config, StorageConfig};
use swiftgit_repo::odb::OdbOptions;
use swiftgit_server::daemon::{Daemon, DaemonOptions};
use swiftgit_server::listener::ConnectionLimits;
use swiftgit_server::maintenance::AutoMaintenance;
use swiftgit_server::observer::{NoObserver, ServerObserver};
use swiftgit_server::registry::Registry;
use swiftgit_server::session::receive_pack::ReceivePackOptions;
use tokio::net::TcpListener;

use crate::http_settings::HttpSettings;
use crate::maintenance_settings::MaintenanceSettings;
use crate::metrics::{self, Metrics, Readiness, Scraped};
use crate::settings::{DaemonFlags, DaemonSettings};
use crate::{
    backend, cache_settings, coordinator_settings, http_server, metrics_settings, stats_file,
    systemd,
};

/// Serves until a signal; with `stats_file`, keeps that file up to date with the storage
/// counters (see [`crate::stats_file`]); with `--metrics` or `[metrics] listen`, serves the
/// metrics and health checks (see [`crate::metrics`]).
pub async fn run(
    config: &Config,
    flags: &DaemonFlags,
    stats_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let settings = DaemonSettings::load(config, flags)?;
    let http = HttpSettings::load(config, flags.http.as_deref())?;
    if flags.no_git_daemon && http.listen.is_none() {
        anyhow::bail!("--no-git-daemon needs --http ADDR:PORT or [http] listen");
    }
    let metrics_listen = metrics_settings::listen(config, flags.metrics.as_deref())?;
    let mut metrics = metrics_listen.as_ref().map(|_| Metrics::new());
    let cache = cache_settings::load(config, flags, |name| std::env::var(name).ok())?;
    let backend = backend::open_counted(
        config,
        cache.as_ref(),
        metrics.as_ref().map(|metrics| &metrics.storage),
    )
    .await?;
    let usage = backend.usage.clone();
    let coordination = coordinator_settings::coordination(config)?;
    let memory_budget = cache_settings::memory_budget(config)?;
    let maintenance = MaintenanceSettings::load(config)?;
    let mut registry = Registry::with_options(
        Arc::clone(&backend.storage),
        odb_options(config),
        coordination.options,
    )
    .with_memory_budget(memory_budget);
    let observer: Arc<dyn ServerObserver> = match &metrics {
        Some(metrics) => Arc::new(metrics.server.clone()),
        None => Arc::new(NoObserver),
    };
    registry = registry.with_observer(Arc::clone(&observer));
    if maintenance.auto && !settings.read_only {
        registry = registry.with_maintenance(AutoMaintenance::new(
            maintenance.gc_options(),
            maintenance.thresholds(),
            observer,
        ));
    }
    let registry = Arc::new(registry);
    let options = DaemonOptions {
        limits: ConnectionLimits {
            max_connections: settings.max_connections,
            shutdown_grace: settings.shutdown_grace,
        },
        idle_timeout: settings.idle_timeout,
        read_only: settings.read_only,
        receive_pack: ReceivePackOptions {
            policy: settings.policy.clone(),
            ..ReceivePackOptions::default()
        },
        ..DaemonOptions::default()
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let mut servers = tokio::task::JoinSet::new();
    let metrics_listener = match &metrics_listen {
        Some(listen) => Some(
            TcpListener::bind(listen.as_str())
                .await
                .with_context(|| format!("cannot listen on {listen} (metrics)"))?,
        ),
        None => None,
    };
    if let Some(listen) = &http.listen {
        let server = http_server::build(Arc::clone(&registry), &settings, &http)?;
        let listener = TcpListener::bind(listen.as_str())
            .await
            .with_context(|| format!("cannot listen on {listen} (HTTP)"))?;
        let address = listener
            .local_addr()
            .context("cannot read the listening address")?;
        println!("swiftgit: listening on {}://{address}", server.scheme());
        tracing::info!(%address, scheme = server.scheme(), "serving smart HTTP");
        servers.spawn(server.serve(listener, until_stopped(stopped.clone())));
    }
    if !flags.no_git_daemon {
        let listener = TcpListener::bind((settings.listen.as_str(), settings.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", settings.listen, settings.port))?;
        let address = listener
            .local_addr()
            .context("cannot read the listening address")?;
        // Tests and scripts read this line to find the port (with -p 0).
        println!("swiftgit: listening on git://{address}");
        tracing::info!(
            %address,
            read_only = settings.read_only,
            max_connections = settings.max_connections,
            idle_timeout_secs = settings.idle_timeout.as_secs(),
            "serving git:// (no authentication, no encryption)"
        );
        servers.spawn(
            Daemon::new(Arc::clone(&registry), options)
                .serve(listener, until_stopped(stopped.clone())),
        );
    }
    if let (Some(listener), Some(mut metrics)) = (metrics_listener, metrics.take()) {
        let address = listener
            .local_addr()
            .context("cannot read the listening address")?;
        let (counters, swift) = backend.usage.parts();
        metrics.add_scraped(Scraped {
            backend: backend.name,
            storage: counters,
            swift,
            disk_cache: backend.disk_cache.clone(),
            registry: Arc::clone(&registry),
            etcd: coordination.etcd.clone(),
        });
        let readiness = Readiness {
            storage: Arc::clone(&backend.bare),
            etcd: coordination.etcd.clone(),
            timeout: storage_timeout(config),
        };
        // Printed after the git:// (or HTTP) line, which tests read first.
        println!("swiftgit: metrics on http://{address}");
        tracing::info!(%address, "serving /metrics, /healthz and /readyz");
        servers.spawn(metrics::serve(
            listener,
            Arc::new(metrics),
            readiness,
            until_stopped(stopped.clone()),
        ));
    }
    let stats_task = match &stats_file {
        Some(path) => Some(stats_file::start(path.clone(), usage.clone()).await?),
        None => None,
    };
    // Every listener is bound and has printed its address.
    systemd::notify("READY=1");
    shutdown.await;
    systemd::notify("STOPPING=1");
    let _ = stop.send(true);
    while servers.join_next().await.is_some() {}
    registry.shutdown().await;
    if let (Some(task), Some(path)) = (stats_task, &stats_file) {
        task.abort();
        stats_file::write_final(path, &usage).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The object database's cache settings from `[swift]` (the seed's `cache_length`, the block
/// cache of the whole process, `chunk_length`, `concurrency`); defaults for a local directory.
pub(crate) fn odb_options(config: &Config) -> OdbOptions {
    match &config.storage {
        StorageConfig::Swift(swift) => OdbOptions {
            cache_bytes: (swift.cache_length_mib as u64) << 20,
            chunk_bytes: swift.chunk_length as u64,
            concurrency: swift.concurrency,
            ..OdbOptions::default()
        },
        StorageConfig::Local(_) => OdbOptions::default(),
    }
}

/// How long a readiness check may take: `[swift] http_timeout`, else 20 s.
fn storage_timeout(config: &Config) -> Duration {
    match &config.storage {
        StorageConfig::Swift(swift) => swift.http_timeout,
        StorageConfig::Local(_) => Duration::from_secs(20),
    }
}

/// Completes when `stream` (if any) delivers a signal; never without one.
async fn received(stream: Option<&mut tokio::signal::unix::Signal>) {
    match stream {
        Some(stream) => {
            stream.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM received after this call.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Registered now, not when first polled: a signal that comes once READY=1 is sent (or
    // during start-up) must stop the daemon gracefully, not kill it with the default action.
    let listen = |kind: SignalKind, name: &'static str| match signal(kind) {
        Ok(stream) => Some(stream),
        Err(error) => {
            tracing::warn!(%error, "cannot listen for {name}");
            None
        }
    };
    let mut interrupt = listen(SignalKind::interrupt(), "SIGINT");
    let mut terminate = listen(SignalKind::terminate(), "SIGTERM");
    async move {
        tokio::select! {
            () = received(interrupt.as_mut()) => tracing::info!("SIGINT: shutting down"),
            () = received(terminate.as_mut()) => tracing::info!("SIGTERM: shutting down"),
        }
    }
}
