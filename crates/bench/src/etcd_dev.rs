//! The etcd cluster of the `etcd` server (swiftgit on Swift with the etcd coordinator): the
//! client URLs in `$SWIFTGIT_TEST_ETCD`, else the 3-member cluster of `scripts/etcd-dev` —
//! which is started if it does not run (installing Debian's etcd-server if missing), and then
//! stopped again when the benchmark ends. Every key the benchmark makes lives under a prefix of
//! its own run, `bench-<unix time>/`, which [`crate::cleanup`] deletes at the end.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use swiftgit_etcd::{EtcdClient, EtcdOptions};

use crate::command::{command, run};

pub struct EtcdDev {
    /// Client URLs of the members.
    pub endpoints: Vec<String>,
    /// The prefix of every key of this run, `bench-<unix time>/`.
    pub prefix: String,
    /// The version a member reports, e.g. "3.4.23".
    pub version: Option<String>,
    /// `scripts/etcd-dev`, when this benchmark started etcd (and so stops it).
    started: Option<PathBuf>,
}

impl EtcdDev {
    /// Finds (or starts) the cluster and checks that it has a leader. `started_unix` names the
    /// run's prefix.
    pub fn find(root: &Path, started_unix: u64) -> anyhow::Result<EtcdDev> {
        let mut dev = EtcdDev {
            endpoints: Vec::new(),
            prefix: format!("bench-{started_unix}/"),
            version: None,
            started: None,
        };
        let list = match std::env::var("SWIFTGIT_TEST_ETCD") {
            Ok(list) => list,
            Err(_) => {
                let script = root.join("scripts/etcd-dev");
                let script_name = script.to_string_lossy();
                let running = command(&script_name)
                    .arg("status")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .context("cannot run scripts/etcd-dev")?
                    .success();
                if !running {
                    eprintln!("bench: starting etcd (scripts/etcd-dev start)");
                    // Its progress goes to stderr: stdout is the benchmark's report.
                    let status = command(&script_name)
                        .arg("start")
                        .stdout(Stdio::from(std::io::stderr()))
                        .status()?;
                    // Set before checking: a half-started cluster is stopped too.
                    dev.started = Some(script.clone());
                    if !status.success() {
                        bail!("scripts/etcd-dev start failed");
                    }
                }
                let env_file = run(command(&script_name).arg("env-file"))?;
                let env = std::fs::read_to_string(env_file.trim())
                    .with_context(|| format!("cannot read {}", env_file.trim()))?;
                env.lines()
                    .find_map(|line| line.strip_prefix("export SWIFTGIT_TEST_ETCD="))
                    .map(|list| list.trim().to_owned())
                    .context("the etcd-dev env file names no SWIFTGIT_TEST_ETCD")?
            }
        };
        dev.endpoints = (list.split(','))
            .map(|endpoint| endpoint.trim().to_owned())
            .filter(|endpoint| !endpoint.is_empty())
            .collect();
        if dev.endpoints.is_empty() {
            bail!("SWIFTGIT_TEST_ETCD names no endpoint");
        }
        dev.version = Some(leader_version(&dev.endpoints)?);
        Ok(dev)
    }

    /// A client of the cluster.
    pub fn client(&self) -> anyhow::Result<EtcdClient> {
        EtcdClient::new(EtcdOptions::new(self.endpoints.iter().cloned()))
            .context("cannot make an etcd client")
    }

    /// The config of the `etcd` server: `swift_config` (the text of the `swift` server's) with
    /// a `[coordinator]` section of this cluster and run prefix in place of any it had.
    pub fn server_config(&self, swift_config: &str) -> String {
        let mut text = without_section(swift_config, "coordinator");
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "\n[coordinator]\netcd_endpoints = {}\netcd_prefix = {}\n",
            self.endpoints.join(","),
            self.prefix
        ));
        text
    }
}

/// The version of a member that knows a leader; fails when none answers or none knows one
/// (no quorum), saying what the members said.
fn leader_version(endpoints: &[String]) -> anyhow::Result<String> {
    let client = EtcdClient::new(EtcdOptions::new(endpoints.iter().cloned()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let statuses = runtime.block_on(client.status());
    let mut problems = Vec::new();
    for (endpoint, status) in statuses {
        match status {
            Ok(status) if status.leader != 0 => return Ok(status.version),
            Ok(status) => problems.push(format!("{endpoint}: no leader {:?}", status.errors)),
            Err(error) => problems.push(format!("{endpoint}: {error}")),
        }
    }
    bail!("etcd is not serving: {}", problems.join("; "))
}

/// `text` (an INI file) without the section `name`: its header and every line up to the next
/// header.
pub fn without_section(text: &str, name: &str) -> String {
    let header = format!("[{name}]");
    let mut inside = false;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            inside = trimmed == header;
        }
        if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

impl Drop for EtcdDev {
    fn drop(&mut self) {
        if let Some(script) = &self.started {
            eprintln!("bench: stopping the etcd it started (scripts/etcd-dev stop)");
            let _ = command(&script.to_string_lossy())
                .arg("stop")
                .stdout(Stdio::from(std::io::stderr()))
                .status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coordinator_section_is_replaced() {
        let dev = EtcdDev {
            endpoints: vec!["http://127.0.0.1:1".into(), "http://127.0.0.1:2".into()],
            prefix: "bench-7/".into(),
            version: None,
            started: None,
        };
        let swift = "[swift]\nauth_url = http://x/auth/v1.0\n[coordinator]\netcd_endpoints = \
                     http://old:2379\n\n[daemon]\nshutdown_grace = 1";
        assert_eq!(
            dev.server_config(swift),
            "[swift]\nauth_url = http://x/auth/v1.0\n[daemon]\nshutdown_grace = 1\n\n\
             [coordinator]\netcd_endpoints = http://127.0.0.1:1,http://127.0.0.1:2\n\
             etcd_prefix = bench-7/\n"
        );
    }
}
