//! The servers under test, started as child processes on 127.0.0.1 with a free port: C
//! `git daemon` over bare repositories, `swiftgit daemon` on a local directory, on Swift, and
//! on the same Swift with the etcd coordinator (every push decided by one etcd transaction).
//! Each serves one [`Transport`]: git:// or smart HTTP — swiftgit with `--http` (as the user
//! of a users file written here), git with `git http-backend` behind the benchmark's own
//! CGI front (see [`crate::http_backend`]) on the same bare repositories.
//! A [`Server`] stops its process when dropped; the process also gets SIGTERM if the benchmark
//! dies (see [`crate::command::command`]).

use std::fmt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::command::{command, run, run_with_input};
use crate::etcd_dev::{EtcdDev, without_section};
use crate::procfs;
use crate::repos::git;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum ServerKind {
    #[serde(rename = "git")]
    GitDaemon,
    #[serde(rename = "local")]
    SwiftgitLocal,
    #[serde(rename = "swift")]
    SwiftgitSwift,
    /// swiftgit on Swift with `[coordinator]` (etcd): the same as `SwiftgitSwift` otherwise.
    #[serde(rename = "etcd")]
    SwiftgitEtcd,
}

impl ServerKind {
    pub fn parse(name: &str) -> anyhow::Result<ServerKind> {
        Ok(match name {
            "git" => ServerKind::GitDaemon,
            "local" => ServerKind::SwiftgitLocal,
            "swift" => ServerKind::SwiftgitSwift,
            "etcd" => ServerKind::SwiftgitEtcd,
            _ => bail!("unknown server `{name}` (git, local, swift or etcd)"),
        })
    }

    /// Whether its repositories live in Swift.
    pub fn uses_swift(self) -> bool {
        matches!(self, ServerKind::SwiftgitSwift | ServerKind::SwiftgitEtcd)
    }

    pub fn key(self) -> &'static str {
        match self {
            ServerKind::GitDaemon => "git",
            ServerKind::SwiftgitLocal => "local",
            ServerKind::SwiftgitSwift => "swift",
            ServerKind::SwiftgitEtcd => "etcd",
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerKind::GitDaemon => "git daemon",
            ServerKind::SwiftgitLocal => "swiftgit local",
            ServerKind::SwiftgitSwift => "swiftgit swift",
            ServerKind::SwiftgitEtcd => "swiftgit swift+etcd",
        })
    }
}

/// How the client reaches a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Transport {
    #[default]
    #[serde(rename = "git")]
    Git,
    #[serde(rename = "http")]
    Http,
}

impl Transport {
    pub fn parse(name: &str) -> anyhow::Result<Transport> {
        Ok(match name {
            "git" => Transport::Git,
            "http" => Transport::Http,
            _ => bail!("unknown transport `{name}` (git or http)"),
        })
    }

    pub fn key(self) -> &'static str {
        match self {
            Transport::Git => "git",
            Transport::Http => "http",
        }
    }
}

/// A server over a transport: what one column of a report measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Target {
    pub server: ServerKind,
    pub transport: Transport,
}

impl Target {
    /// A name part that tells targets apart (`swift`, `swift-http`).
    pub fn key(self) -> String {
        match self.transport {
            Transport::Git => self.server.key().to_owned(),
            transport => format!("{}-{}", self.server.key(), transport.key()),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transport {
            Transport::Git => write!(f, "{}", self.server),
            Transport::Http => write!(f, "{} http", self.server),
        }
    }
}

/// The HTTP user of swiftgit's servers (pushes need one; loopback only).
const HTTP_USER: &str = "bench";
const HTTP_PASSWORD: &str = "bench-password";

/// What the benchmark changes in the swiftgit configs it writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfigOptions {
    /// Give every swiftgit server an HTTP listener and a users file with [`HTTP_USER`].
    pub http: bool,
    /// `[cache] memory_mb`, when given.
    pub memory_mb: Option<u64>,
}

/// Storage figures from a swiftgit `--stats-file` (totals, or a difference of two).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageFigures {
    pub requests: u64,
    pub gets: u64,
    pub range_gets: u64,
    pub heads: u64,
    pub puts: u64,
    pub deletes: u64,
    pub lists: u64,
    pub container_ops: u64,
    pub errors: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Swift only: HTTP requests (auth, listing pages and SLO segments included).
    pub http_requests: Option<u64>,
}

impl StorageFigures {
    fn parse(text: &str) -> Option<StorageFigures> {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        let mut figures: StorageFigures = serde_json::from_value(value["storage"].clone()).ok()?;
        figures.http_requests = value["swift"]["requests"].as_u64();
        Some(figures)
    }

    pub fn since(&self, before: &StorageFigures) -> StorageFigures {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        StorageFigures {
            requests: d(self.requests, before.requests),
            gets: d(self.gets, before.gets),
            range_gets: d(self.range_gets, before.range_gets),
            heads: d(self.heads, before.heads),
            puts: d(self.puts, before.puts),
            deletes: d(self.deletes, before.deletes),
            lists: d(self.lists, before.lists),
            container_ops: d(self.container_ops, before.container_ops),
            errors: d(self.errors, before.errors),
            bytes_read: d(self.bytes_read, before.bytes_read),
            bytes_written: d(self.bytes_written, before.bytes_written),
            http_requests: self
                .http_requests
                .zip(before.http_requests)
                .map(|(a, b)| d(a, b)),
        }
    }
}

/// Where everything a server needs lives.
pub struct Setup {
    pub swiftgit: PathBuf,
    /// `$(git --exec-path)/git-daemon`.
    git_daemon: PathBuf,
    pub work: PathBuf,
    pub env: crate::ClientEnv,
    /// swiftgit config files, by backend.
    pub local_config: PathBuf,
    pub swift_config: Option<PathBuf>,
    /// The Swift config with a `[coordinator]` section.
    pub etcd_config: Option<PathBuf>,
    /// swiftgit servers listen for HTTP too.
    http: bool,
}

impl Setup {
    /// Writes the swiftgit configs: a local directory, a copy of `swift_config` (if any)
    /// without a `[coordinator]` section and with `shutdown_grace = 1` so that stopping a
    /// daemon is quick, and (with `etcd`) that copy with `etcd`'s `[coordinator]`; all with
    /// what `options` asks for (the `[http]` users file, `[cache] memory_mb`).
    pub fn new(
        swiftgit: PathBuf,
        work: PathBuf,
        env: crate::ClientEnv,
        swift_config: Option<&Path>,
        etcd: Option<&EtcdDev>,
        options: ConfigOptions,
    ) -> anyhow::Result<Setup> {
        std::fs::create_dir_all(work.join("git-daemon"))?;
        let mut sections = String::new();
        if options.http {
            let users_file = work.join("http-users");
            let mut add = command(&swiftgit.to_string_lossy());
            add.args(["user", "add", HTTP_USER, "--users-file"])
                .arg(&users_file);
            run_with_input(&mut add, &format!("{HTTP_PASSWORD}\n"))?;
            sections.push_str(&format!(
                "[http]\nusers_file = {}\ndefault_access = write\n",
                users_file.display()
            ));
        }
        if let Some(memory_mb) = options.memory_mb {
            sections.push_str(&format!("[cache]\nmemory_mb = {memory_mb}\n"));
        }
        let local_config = work.join("swiftgit-local.conf");
        let data = work.join("swiftgit-data");
        std::fs::create_dir_all(&data)?;
        std::fs::write(
            &local_config,
            format!(
                "[local]\npath = {}\n[daemon]\nshutdown_grace = 1\n{sections}",
                data.display()
            ),
        )?;
        let mut swift_text = None;
        let swift_config = match swift_config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                // `swift` is the baseline of `etcd`: it must not have a coordinator itself.
                let mut text = without_section(&text, "coordinator");
                if !text.contains("[daemon]") {
                    text.push_str("\n[daemon]\nshutdown_grace = 1\n");
                }
                if options.http {
                    text = without_section(&text, "http");
                }
                if options.memory_mb.is_some() {
                    text = without_section(&text, "cache");
                }
                text.push_str(&sections);
                let copy = work.join("swiftgit-swift.conf");
                std::fs::write(&copy, &text)?;
                swift_text = Some(text);
                Some(copy)
            }
            None => None,
        };
        let etcd_config = match (etcd, &swift_text) {
            (Some(etcd), Some(text)) => {
                let copy = work.join("swiftgit-etcd.conf");
                std::fs::write(&copy, etcd.server_config(text))?;
                Some(copy)
            }
            _ => None,
        };
        let exec_path = run(git(&env).arg("--exec-path"))?;
        Ok(Setup {
            git_daemon: Path::new(exec_path.trim()).join("git-daemon"),
            swiftgit,
            work,
            env,
            local_config,
            swift_config,
            etcd_config,
            http: options.http,
        })
    }

    pub fn config(&self, kind: ServerKind) -> anyhow::Result<&Path> {
        match kind {
            ServerKind::GitDaemon => bail!("git daemon has no swiftgit config"),
            ServerKind::SwiftgitLocal => Ok(&self.local_config),
            ServerKind::SwiftgitSwift => self
                .swift_config
                .as_deref()
                .context("no Swift config (start Swift or pass --swift-config)"),
            ServerKind::SwiftgitEtcd => self
                .etcd_config
                .as_deref()
                .context("no Swift config with [coordinator] (no Swift or no etcd)"),
        }
    }

    /// A new empty repository `name` whose HEAD is `refs/heads/<head>`.
    pub fn create_repo(&self, kind: ServerKind, name: &str, head: &str) -> anyhow::Result<()> {
        match kind {
            ServerKind::GitDaemon => {
                let path = self.work.join("git-daemon").join(format!("{name}.git"));
                run(git(&self.env)
                    .args(["init", "-q", "--bare", "-b", head])
                    .arg(&path))?;
                // Partial clones need the server's consent (swiftgit always gives it).
                run(git(&self.env).arg("-C").arg(&path).args([
                    "config",
                    "uploadpack.allowFilter",
                    "true",
                ]))?;
            }
            _ => {
                run(command(&self.swiftgit.to_string_lossy())
                    .arg("init")
                    .arg("-c")
                    .arg(self.config(kind)?)
                    .arg(name)
                    .args(["--initial-branch", head]))?;
            }
        }
        Ok(())
    }

    /// An empty disk cache directory for a fresh swiftgit daemon on Swift, so that "cold" means
    /// nothing cached; the copies of the previous daemon of `kind` (stopped by now) are
    /// removed. One directory per kind: `swift` and `etcd` never share a cache.
    fn empty_pack_cache(&self, kind: ServerKind) -> anyhow::Result<PathBuf> {
        let dir = self
            .work
            .join(format!("swiftgit-{}-pack-cache", kind.key()));
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot empty {}", dir.display())),
        }
        Ok(dir)
    }

    /// Starts a server; returns once it accepts connections over `transport`.
    pub fn start(&self, kind: ServerKind, transport: Transport) -> anyhow::Result<Server> {
        if transport == Transport::Http && kind != ServerKind::GitDaemon && !self.http {
            bail!("{kind} has no HTTP listener (the configs were written without one)");
        }
        let target = Target {
            server: kind,
            transport,
        };
        let log = self.work.join(format!("{}.log", target.key()));
        let out = self.work.join(format!("{}.out", target.key()));
        let stats_file = self.work.join(format!("{}-stats.json", kind.key()));
        let _ = std::fs::remove_file(&stats_file);
        let open = |path: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))
        };
        let (mut cmd, port, ready) = match kind {
            ServerKind::GitDaemon if transport == Transport::Http => {
                let mut cmd = command(
                    &std::env::current_exe()
                        .context("cannot find this program to start its HTTP front")?
                        .to_string_lossy(),
                );
                self.env.apply(&mut cmd);
                cmd.arg(crate::http_backend::SUBCOMMAND)
                    .arg(self.git_daemon.with_file_name("git-http-backend"))
                    .arg(self.work.join("git-daemon"));
                (cmd, None, crate::http_backend::READY)
            }
            ServerKind::GitDaemon => {
                // git daemon cannot report a port it picked: take a free one and hand it over.
                let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
                // git-daemon itself, not `git daemon`: the `git` wrapper would stay as its
                // parent, and the daemon's reaped children would not count in our pid's CPU.
                let mut cmd = command(&self.git_daemon.to_string_lossy());
                self.env.apply(&mut cmd);
                cmd.arg("--verbose")
                    .arg("--export-all")
                    .arg(format!(
                        "--base-path={}",
                        self.work.join("git-daemon").display()
                    ))
                    .args(["--enable=receive-pack", "--listen=127.0.0.1", "--reuseaddr"])
                    .arg(format!("--port={port}"));
                (cmd, Some(port), "Ready to rumble")
            }
            _ => {
                let mut cmd = command(&self.swiftgit.to_string_lossy());
                cmd.arg("daemon")
                    .arg("-c")
                    .arg(self.config(kind)?)
                    .args(["-l", "127.0.0.1", "-p", "0"])
                    .arg("--stats-file")
                    .arg(&stats_file);
                if kind.uses_swift() {
                    cmd.arg("--cache-dir").arg(self.empty_pack_cache(kind)?);
                }
                if self.http {
                    cmd.args(["--http", "127.0.0.1:0"]);
                }
                // swiftgit prints the HTTP address first, so both are there by then.
                (cmd, None, "swiftgit: listening on git://")
            }
        };
        let before = std::fs::metadata(&out).map_or(0, |m| m.len());
        let log_before = std::fs::metadata(&log).map_or(0, |m| m.len());
        let child = cmd
            .stdin(Stdio::null())
            .stdout(open(&out)?)
            .stderr(open(&log)?)
            .spawn()
            .with_context(|| format!("cannot start {kind}"))?;
        let mut server = Server {
            kind,
            transport,
            pid: child.id(),
            child,
            port: port.unwrap_or(0),
            stats_file: (kind != ServerKind::GitDaemon).then_some(stats_file),
            log: log.clone(),
        };
        let (watched, offset) = match (kind, transport) {
            (ServerKind::GitDaemon, Transport::Git) => (&log, log_before),
            _ => (&out, before),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read(watched).unwrap_or_default();
            let text = String::from_utf8_lossy(text.get(offset as usize..).unwrap_or_default());
            if text.lines().any(|l| l.contains(ready)) {
                if server.port == 0 {
                    let listening = match (kind, transport) {
                        (ServerKind::GitDaemon, _) => ready,
                        (_, Transport::Git) => "swiftgit: listening on git://",
                        (_, Transport::Http) => "swiftgit: listening on http://",
                    };
                    let line = (text.lines())
                        .find(|l| l.contains(listening))
                        .with_context(|| format!("{kind} did not print `{listening}`"))?;
                    server.port = line
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.trim().parse().ok())
                        .with_context(|| format!("no port in `{line}`"))?;
                }
                break;
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("{kind} exited at start ({status}); see {}", log.display());
            }
            if Instant::now() > deadline {
                bail!("{kind} did not start in 30 s; see {}", log.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if server.stats_file.is_some() {
            server.wait_for_stats()?;
        }
        Ok(server)
    }
}

/// A running server.
pub struct Server {
    pub kind: ServerKind,
    pub transport: Transport,
    pub pid: u32,
    child: Child,
    pub port: u16,
    stats_file: Option<PathBuf>,
    pub log: PathBuf,
}

impl Server {
    pub fn url(&self, name: &str) -> String {
        let port = self.port;
        match (self.kind, self.transport) {
            (ServerKind::GitDaemon, Transport::Git) => format!("git://127.0.0.1:{port}/{name}.git"),
            (ServerKind::GitDaemon, Transport::Http) => {
                format!("http://127.0.0.1:{port}/{name}.git")
            }
            (_, Transport::Git) => format!("git://127.0.0.1:{port}/{name}"),
            (_, Transport::Http) => {
                format!("http://{HTTP_USER}:{HTTP_PASSWORD}@127.0.0.1:{port}/{name}")
            }
        }
    }

    fn wait_for_stats(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.storage().is_none() {
            if Instant::now() > deadline {
                bail!(
                    "{} wrote no stats file; see {}",
                    self.kind,
                    self.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// The storage counters so far (swiftgit only).
    pub fn storage(&self) -> Option<StorageFigures> {
        let text = std::fs::read_to_string(self.stats_file.as_ref()?).ok()?;
        StorageFigures::parse(&text)
    }

    /// Waits until the server is done with the last operation: for git daemon, until it has
    /// reaped every child (their CPU time then counts in its own); for swiftgit, until its
    /// stats file has not changed for 200 ms (it is rewritten within 50 ms of a change).
    /// Gives up after 10 s.
    pub fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        match &self.stats_file {
            None => {
                while !procfs::descendants(self.pid).is_empty() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            Some(path) => {
                let mut last = std::fs::read(path).unwrap_or_default();
                let mut stable_since = Instant::now();
                while stable_since.elapsed() < Duration::from_millis(200)
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(20));
                    let now = std::fs::read(path).unwrap_or_default();
                    if now != last {
                        last = now;
                        stable_since = Instant::now();
                    }
                }
            }
        }
    }
}

impl Drop for Server {
    /// SIGTERM, then SIGKILL after 5 s.
    fn drop(&mut self) {
        // SAFETY: kill has no memory effects; the child is not reaped yet, so the pid is ours.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
