//! A private 3-member etcd cluster for one test, run by `scripts/etcd-dev` with a port base of
//! its own (`SWIFTGIT_ETCD_BASE`; bases at least 20 apart): the shared cluster other tests use
//! is never touched. Its home (data, logs, PID files) is a fixed directory per base under the
//! system's temporary directory, so that a start finds and stops what a killed earlier run
//! left; it starts fresh, and is stopped and removed on drop (kept, with its logs, after a
//! failure).

use std::path::PathBuf;
use std::process::{Command, Output};

/// The private cluster on client ports `base + 1 ..= base + 3`; stopped when dropped.
pub struct PrivateEtcd {
    base: u16,
}

impl PrivateEtcd {
    /// Starts the three members on empty data dirs and returns once the cluster is healthy.
    /// Panics if it does not start: the caller checked that etcd is available.
    pub fn start(base: u16) -> PrivateEtcd {
        let cluster = PrivateEtcd { base };
        cluster.etcd_dev(&["start"], &[("SWIFTGIT_ETCD_FRESH", "1")]);
        cluster
    }

    /// The client URLs, comma-separated (what `[coordinator] etcd_endpoints` takes).
    pub fn endpoints(&self) -> String {
        (1..=3)
            .map(|member| format!("http://127.0.0.1:{}", self.base + member))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts the members again on their data and returns once the cluster is healthy.
    pub fn start_all(&self) {
        self.etcd_dev(&["start"], &[]);
    }

    /// Stops every member (SIGTERM, one after the other).
    pub fn stop_all(&self) {
        self.etcd_dev(&["stop"], &[]);
    }

    /// SIGKILLs member `member` (1..=3).
    pub fn kill_member(&self, member: u16) {
        self.etcd_dev(&["stop-member", &member.to_string()], &[]);
    }

    /// Starts member `member` again; returns once it accepts connections.
    pub fn start_member(&self, member: u16) {
        self.etcd_dev(&["start-member", &member.to_string()], &[]);
    }

    /// The member (1..=3) that leads, as `etcdctl endpoint status` tells; `None` if no member
    /// answers or none names itself the leader.
    pub fn leader(&self) -> Option<u16> {
        let output = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.endpoints(), "--command-timeout", "2s"])
            .args(["endpoint", "status", "-w", "json"])
            .output()
            .ok()?;
        let statuses: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
        statuses.as_array()?.iter().find_map(|status| {
            let member_id = status.pointer("/Status/header/member_id")?.as_u64()?;
            let leader = status.pointer("/Status/leader")?.as_u64()?;
            let endpoint = status.get("Endpoint")?.as_str()?;
            let port: u16 = endpoint.rsplit(':').next()?.parse().ok()?;
            (member_id == leader).then(|| port - self.base)
        })
    }

    /// Where `scripts/etcd-dev` keeps this cluster's data, logs and PID files.
    fn home(&self) -> PathBuf {
        std::env::temp_dir().join(format!("swiftgit-several-daemons-etcd-{}", self.base))
    }

    fn etcd_dev(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let output = self.run(args, env);
        assert!(
            output.status.success(),
            "scripts/etcd-dev {args:?} (SWIFTGIT_ETCD_BASE={}) failed:\n{}{}",
            self.base,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(script())
            .args(args)
            .env("SWIFTGIT_ETCD_BASE", self.base.to_string())
            .env("SWIFTGIT_ETCD_HOME", self.home())
            .env_remove("SWIFTGIT_ETCD_FRESH")
            .envs(env.iter().copied())
            .output()
            .expect("scripts/etcd-dev can be run")
    }
}

impl Drop for PrivateEtcd {
    fn drop(&mut self) {
        let output = self.run(&["stop"], &[]);
        if !output.status.success() {
            eprintln!(
                "could not stop the private etcd cluster (SWIFTGIT_ETCD_BASE={}):\n{}",
                self.base,
                String::from_utf8_lossy(&output.stderr)
            );
        } else if std::thread::panicking() {
            eprintln!(
                "kept the private etcd cluster's logs in {}",
                self.home().display()
            );
        } else {
            let _ = std::fs::remove_dir_all(self.home());
        }
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/etcd-dev")
}
