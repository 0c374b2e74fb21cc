//! `swiftgit daemon --metrics ADDR:PORT` as an operator uses it: real `git` clones and pushes
//! over git:// and HTTP, then `GET /metrics` checked by `promtool check metrics` and its
//! counters compared with what was done; `/healthz`, `/readyz` and a 404. With
//! `SWIFTGIT_TEST_CONFIG`, a daemon on the test Swift behind a fault proxy: `/readyz` turns
//! unready within `http_timeout` when Swift answers 503, the failed clone shows in the storage
//! counters, and `/readyz` is ready again once Swift is back. With `SWIFTGIT_TEST_ETCD` too,
//! a coordinated daemon counts its etcd transactions and `/readyz` checks etcd.
//!
//! promtool comes from Debian's `prometheus` package, which `scripts/test` installs; it sets
//! `SWIFTGIT_TEST_TOOLS_REQUIRED=1`, and then a missing promtool fails the tests instead of
//! skipping the check.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use swiftgit_test_support::git::Git;
use swiftgit_test_support::swift_proxy::{ProxyFaults, SwiftProxy, config_through_proxy};

const BINARY: &str = env!("CARGO_BIN_EXE_swiftgit");
/// How long background work (maintenance, a closed connection) may take to show.
const SETTLE: Duration = Duration::from_secs(30);

/// A running daemon and the addresses it printed.
struct Daemon {
    child: Child,
    git: String,
    http: Option<String>,
    metrics: String,
}

impl Daemon {
    /// `swiftgit daemon -c config -p 0 --metrics 127.0.0.1:0 EXTRA`, its data under `dir`.
    fn start(config: &Path, dir: &Path, extra: &[&str]) -> Daemon {
        let mut child = Command::new(BINARY)
            .args(["daemon", "-p", "0", "--metrics", "127.0.0.1:0", "-c"])
            .arg(config)
            .args(extra)
            .env_remove("SWIFTGIT_CONFIG")
            .env_remove("DULWICH_SWIFT_CFG")
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("swiftgit can be run");
        let stdout = child.stdout.take().expect("holds because stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let (mut git, mut http, mut metrics) = (None, None, None);
        while metrics.is_none() {
            let line = lines
                .next()
                .expect("the daemon prints its addresses")
                .expect("read the daemon's output");
            if let Some(address) = line.strip_prefix("swiftgit: listening on git://") {
                git = Some(address.to_owned());
            } else if let Some(address) = line.strip_prefix("swiftgit: listening on http://") {
                http = Some(address.to_owned());
            } else if let Some(address) = line.strip_prefix("swiftgit: metrics on http://") {
                metrics = Some(address.to_owned());
            }
        }
        Daemon {
            child,
            git: git.expect("the git:// address is printed before the metrics one"),
            http,
            metrics: metrics.expect("holds because the loop ends with it"),
        }
    }

    /// `GET path` on the metrics listener: the status and the body.
    fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.metrics, path)
    }

    /// The metrics page, checked by promtool.
    fn scrape(&self) -> Page {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        promtool_check(&body);
        Page(body)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET with `Connection: close`.
fn http_get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect to the metrics listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("set a read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    (status, body)
}

/// Runs `promtool check metrics` on `page`, which must pass. Without promtool the check is
/// skipped (said on stderr) unless `SWIFTGIT_TEST_TOOLS_REQUIRED=1` (`scripts/test`).
fn promtool_check(page: &str) {
    let required = std::env::var("SWIFTGIT_TEST_TOOLS_REQUIRED").as_deref() == Ok("1");
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) if !required => {
            eprintln!(
                "promtool check skipped: cannot run promtool ({error}); scripts/test installs it"
            );
            return;
        }
        Err(error) => panic!("promtool cannot be run ({error}); scripts/test installs it"),
    };
    child
        .stdin
        .take()
        .expect("holds because stdin is piped")
        .write_all(page.as_bytes())
        .expect("feed promtool");
    let output = child.wait_with_output().expect("promtool ends");
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}\n--- page ---\n{page}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A metrics page.
struct Page(String);

impl Page {
    /// The value of the sample `series` (name and labels exactly as printed), 0 if absent.
    fn value(&self, series: &str) -> f64 {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                (name == series).then(|| value.parse().expect("a sample value is a number"))
            })
            .unwrap_or(0.0)
    }

    /// The sum of the samples of metric `name` whose labels contain every one of `labels`
    /// (`key="value"` strings).
    fn sum(&self, name: &str, labels: &[&str]) -> f64 {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (sample_name, rest) = series.split_once('{').unwrap_or((series, ""));
                (sample_name == name && labels.iter().all(|label| rest.contains(label)))
                    .then(|| value.parse::<f64>().expect("a sample value is a number"))
            })
            .sum()
    }
}

/// Polls `check` on fresh scrapes until it holds (or panics with `what` after [`SETTLE`]).
fn eventually(daemon: &Daemon, what: &str, check: impl Fn(&Page) -> bool) -> Page {
    let started = Instant::now();
    loop {
        let page = daemon.scrape();
        if check(&page) {
            return page;
        }
        assert!(started.elapsed() < SETTLE, "{what} never held:\n{}", page.0);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `swiftgit -c config init name`, which must succeed.
fn init(config: &Path, name: &str) {
    let output = Command::new(BINARY)
        .args(["init", "-c"])
        .arg(config)
        .arg(name)
        .env_remove("SWIFTGIT_CONFIG")
        .output()
        .expect("swiftgit can be run");
    assert!(
        output.status.success(),
        "swiftgit init: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn counters_follow_clones_and_pushes() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("swiftgit.conf");
    std::fs::write(
        &config,
        format!(
            "[local]\npath = {}\n[http]\nanonymous_read = true\n[repository]\n\
             deny_deletes = true\n[maintenance]\nmax_packs = 1\n",
            dir.path().join("data").display()
        ),
    )
    .expect("write the config");
    init(&config, "edeploy");
    let daemon = Daemon::start(&config, dir.path(), &["--http", "127.0.0.1:0"]);
    let git_url = format!("git://{}/edeploy", daemon.git);
    let http_url = format!(
        "http://{}/edeploy.git",
        daemon.http.as_deref().expect("--http prints its address")
    );

    let (status, body) = daemon.get("/healthz");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, body) = daemon.get("/readyz");
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"ready":true,"checks":{"storage":{"ok":true}}}"#)
    );
    assert_eq!(daemon.get("/metricz").0, 404);
    let page = daemon.scrape();
    let build_info = format!(
        "swiftgit_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(page.value(&build_info), 1.0);

    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(
        &work,
        &["push", "-q", &git_url, "master", "master:refs/heads/other"],
    );
    git.commit(&work, "b.txt", "second\n", "second");
    git.ok(&work, &["push", "-q", &git_url, "master"]);
    // deny_deletes: the server refuses it.
    let refused = git.run(&work, &["push", &git_url, ":refs/heads/other"]);
    assert!(!refused.status.success(), "the delete is refused");
    git.ok(
        work.parent().expect("a parent"),
        &["clone", "-q", &git_url, "by-git"],
    );
    git.ok(
        work.parent().expect("a parent"),
        &["clone", "-q", &http_url, "by-http"],
    );

    let git_requests = |page: &Page| page.sum("swiftgit_requests_total", &["transport=\"git\""]);
    let page = eventually(&daemon, "every git:// connection closed", |page| {
        page.value("swiftgit_connections_open{transport=\"git\"}") == 0.0
            && page.value("swiftgit_connections_total{transport=\"git\"}") == git_requests(page)
            && page.sum("swiftgit_maintenance_runs_total", &[]) >= 1.0
    });
    let git_series = |service: &str, result: &str| {
        format!(
            "swiftgit_requests_total{{transport=\"git\",service=\"{service}\",result=\"{result}\"}}"
        )
    };
    assert_eq!(page.value(&git_series("receive-pack", "ok")), 3.0);
    assert_eq!(page.value(&git_series("upload-pack", "ok")), 1.0);
    assert_eq!(
        page.value("swiftgit_pushes_total{transport=\"git\",result=\"accepted\"}"),
        2.0
    );
    assert_eq!(
        page.value("swiftgit_pushes_total{transport=\"git\",result=\"refused\"}"),
        1.0
    );
    assert_eq!(
        page.value("swiftgit_push_refs_updated_total{transport=\"git\"}"),
        3.0,
        "master and other, then master"
    );
    assert_eq!(
        page.value("swiftgit_push_objects_received_total{transport=\"git\"}"),
        6.0,
        "a commit, a tree and a blob, twice"
    );
    assert_eq!(
        page.value(
            "swiftgit_request_duration_seconds_count{transport=\"git\",service=\"receive-pack\"}"
        ),
        3.0
    );
    assert!(
        page.value("swiftgit_request_sent_bytes_total{transport=\"git\",service=\"upload-pack\"}")
            > 0.0
    );
    // git's HTTP transport in protocol v2: the advertisement, ls-refs, fetch.
    for service in ["info-refs", "ls-refs", "fetch"] {
        let series = format!(
            "swiftgit_requests_total{{transport=\"http\",service=\"{service}\",result=\"ok\"}}"
        );
        assert_eq!(page.value(&series), 1.0, "{series}");
    }
    assert_eq!(
        page.value("swiftgit_maintenance_runs_total{result=\"done\"}"),
        1.0,
        "max_packs = 1: the second push made the repository due"
    );
    let local = ["backend=\"local\""];
    assert!(page.sum("swiftgit_storage_requests_total", &local) > 0.0);
    assert_eq!(
        page.sum(
            "swiftgit_storage_requests_total",
            &["status=\"unavailable\""]
        ),
        0.0
    );
    assert!(page.value("swiftgit_storage_written_bytes_total{backend=\"local\"}") > 0.0);
    assert_eq!(
        page.sum("swiftgit_storage_requests_total", &local),
        page.sum("swiftgit_storage_request_duration_seconds_count", &local),
        "every call is timed"
    );
    assert!(page.value("swiftgit_block_cache_capacity_bytes") > 0.0);
}

/// The test Swift's config, or `None` after printing that the test is skipped.
fn swift_config(test: &str) -> Option<PathBuf> {
    match std::env::var_os("SWIFTGIT_TEST_CONFIG").filter(|value| !value.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            eprintln!("skipped {test}: SWIFTGIT_TEST_CONFIG is not set (scripts/swift-dev start)");
            None
        }
    }
}

/// `http://HOST:PORT` of the config's `auth_url`.
fn upstream_of(config: &str) -> String {
    let auth_url = config
        .lines()
        .filter_map(|line| line.split_once('='))
        .find(|(key, _)| key.trim() == "auth_url")
        .map(|(_, value)| value.trim())
        .expect("the Swift config has an auth_url");
    let rest = auth_url
        .strip_prefix("http://")
        .expect("the test Swift's auth_url is http://");
    format!("http://{}", rest.split('/').next().unwrap_or(rest))
}

/// Deletes the test's container (best effort).
fn remove_container(config: &Path, name: &str) {
    let Ok(config) = swiftgit_config::Config::load(
        &swiftgit_config::ConfigSource::File(config.to_path_buf()),
        |_| None,
    ) else {
        return;
    };
    let swiftgit_config::StorageConfig::Swift(swift) = &config.storage else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        use swiftgit_storage::Storage;
        if let Ok(storage) = swiftgit_storage::swift::SwiftStorage::connect(swift).await {
            let _ = storage.delete_container(name).await;
        }
    });
}

#[test]
fn swift_outage_turns_readyz_unready_and_shows_in_the_counters() {
    let Some(swift) = swift_config("swift_outage_turns_readyz_unready_and_shows_in_the_counters")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let text = std::fs::read_to_string(&swift).expect("read the Swift config");
    let proxy = SwiftProxy::start(&upstream_of(&text), ProxyFaults::default());
    let config = config_through_proxy(&swift, &proxy, dir.path());
    let http_timeout =
        swiftgit_config::Config::load(&swiftgit_config::ConfigSource::File(config.clone()), |_| {
            None
        })
        .ok()
        .and_then(|config| match config.storage {
            swiftgit_config::StorageConfig::Swift(swift) => Some(swift.http_timeout),
            swiftgit_config::StorageConfig::Local(_) => None,
        })
        .expect("the test config names a Swift");
    let name = format!("metrics-outage-{:08x}", rand::random::<u32>());
    init(&config, &name);
    let daemon = Daemon::start(&config, dir.path(), &[]);
    let url = format!("git://{}/{name}", daemon.git);

    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(&work, &["push", "-q", &url, "master"]);
    git.ok(
        work.parent().expect("a parent"),
        &["clone", "-q", &url, "before"],
    );
    assert_eq!(daemon.get("/readyz").0, 200);
    let before = daemon.scrape();
    assert!(before.value("swiftgit_swift_authentications_total") >= 1.0);
    assert!(before.value("swiftgit_swift_http_requests_total") > 0.0);
    assert_eq!(
        before.value("swiftgit_pushes_total{transport=\"git\",result=\"accepted\"}"),
        1.0
    );
    let swift_label = ["backend=\"swift\""];
    assert!(before.sum("swiftgit_storage_requests_total", &swift_label) > 0.0);

    // Swift answers 503 to everything.
    proxy.set_faults(ProxyFaults {
        refuse: true,
        ..ProxyFaults::default()
    });
    let outage = Instant::now();
    let (status, body) = daemon.get("/readyz");
    assert!(
        outage.elapsed() < http_timeout,
        "unready after {:?}, beyond http_timeout {http_timeout:?}",
        outage.elapsed()
    );
    assert_eq!(status, 503, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(report["ready"], false);
    assert_eq!(report["checks"]["storage"]["ok"], false);
    assert!(
        report["checks"]["storage"]["error"]
            .as_str()
            .is_some_and(|error| !error.is_empty()),
        "{body}"
    );
    // Past the 2 s in which the writer trusts its own last write, a clone reads Swift.
    std::thread::sleep(Duration::from_millis(2500));
    let failed = git.run(
        work.parent().expect("a parent"),
        &["clone", "-q", &url, "during"],
    );
    assert!(
        !failed.status.success(),
        "a clone fails while Swift is down"
    );
    let during = daemon.scrape();
    assert!(
        during.sum(
            "swiftgit_storage_requests_total",
            &["status=\"unavailable\""]
        ) >= 1.0,
        "{}",
        during.0
    );
    assert!(during.sum("swiftgit_storage_retries_total", &swift_label) >= 1.0);
    assert!(
        during.sum("swiftgit_requests_total", &["service=\"upload-pack\""])
            > during.value(
                "swiftgit_requests_total{transport=\"git\",service=\"upload-pack\",result=\"ok\"}"
            ),
        "the failed clone is counted with its error"
    );

    proxy.set_faults(ProxyFaults::default());
    let back = Instant::now();
    loop {
        let (status, body) = daemon.get("/readyz");
        if status == 200 {
            assert!(body.starts_with(r#"{"ready":true"#), "{body}");
            break;
        }
        assert!(back.elapsed() < SETTLE, "never ready again: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    git.ok(
        work.parent().expect("a parent"),
        &["clone", "-q", &url, "after"],
    );
    drop(daemon);
    remove_container(&swift, &name);
}

#[test]
fn coordinator_transactions_are_counted_and_etcd_checked_by_readyz() {
    let test = "coordinator_transactions_are_counted_and_etcd_checked_by_readyz";
    let Some(swift) = swift_config(test) else {
        return;
    };
    let Some(endpoints) = std::env::var("SWIFTGIT_TEST_ETCD")
        .ok()
        .filter(|value| !value.is_empty())
    else {
        assert!(
            std::env::var("SWIFTGIT_TEST_ETCD_REQUIRED").as_deref() != Ok("1"),
            "{test}: SWIFTGIT_TEST_ETCD is not set"
        );
        eprintln!("skipped {test}: SWIFTGIT_TEST_ETCD is not set (scripts/etcd-dev start)");
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let random = rand::random::<u32>();
    let mut text = std::fs::read_to_string(&swift).expect("read the Swift config");
    text.push_str(&format!(
        "\n[coordinator]\netcd_endpoints = {endpoints}\netcd_prefix = metrics-{random:08x}/\n"
    ));
    let config = dir.path().join("coordinated.conf");
    std::fs::write(&config, text).expect("write the config");
    let name = format!("metrics-etcd-{random:08x}");
    init(&config, &name);
    let daemon = Daemon::start(&config, dir.path(), &[]);
    let url = format!("git://{}/{name}", daemon.git);
    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(&work, &["push", "-q", &url, "master"]);
    git.commit(&work, "b.txt", "second\n", "second");
    git.ok(&work, &["push", "-q", &url, "master"]);

    let (status, body) = daemon.get("/readyz");
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            r#"{"ready":true,"checks":{"storage":{"ok":true},"coordinator":{"ok":true}}}"#
        )
    );
    let page = daemon.scrape();
    assert!(
        page.value("swiftgit_coordinator_transactions_total{result=\"committed\"}") >= 2.0,
        "one per push at least:\n{}",
        page.0
    );
    assert_eq!(
        page.value("swiftgit_coordinator_transactions_total{result=\"error\"}"),
        0.0
    );
    assert_eq!(
        page.value("swiftgit_pushes_total{transport=\"git\",result=\"accepted\"}"),
        2.0
    );
    drop(daemon);
    remove_container(&swift, &name);
}
