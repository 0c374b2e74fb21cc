//! The Swift to benchmark against: the config given, else `$SWIFTGIT_TEST_CONFIG`, else the
//! tempauth config of `scripts/swift-dev` — which is started if it does not run, and then
//! stopped again when the benchmark ends. Its version and `max_file_size` come from `/info`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::command::{command, run};

pub struct SwiftDev {
    pub config: PathBuf,
    pub version: Option<String>,
    pub max_file_size: Option<u64>,
    /// `scripts/swift-dev`, when this benchmark started Swift (and so stops it).
    started: Option<PathBuf>,
}

impl SwiftDev {
    pub fn find(root: &Path, explicit: Option<&Path>) -> anyhow::Result<SwiftDev> {
        let from_env = std::env::var_os("SWIFTGIT_TEST_CONFIG").map(PathBuf::from);
        let mut started = None;
        let config = match explicit.map(Path::to_owned).or(from_env) {
            Some(config) => config,
            None => {
                let script = root.join("scripts/swift-dev");
                let running = command(&script.to_string_lossy())
                    .arg("status")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .context("cannot run scripts/swift-dev")?
                    .success();
                if !running {
                    eprintln!("bench: starting Swift (scripts/swift-dev start)");
                    let status = command(&script.to_string_lossy()).arg("start").status()?;
                    if !status.success() {
                        bail!("scripts/swift-dev start failed");
                    }
                    started = Some(script.clone());
                }
                let env_file = run(command(&script.to_string_lossy()).arg("env-file"))?;
                let env = std::fs::read_to_string(env_file.trim())
                    .with_context(|| format!("cannot read {}", env_file.trim()))?;
                env.lines()
                    .find_map(|line| line.strip_prefix("export SWIFTGIT_TEST_CONFIG="))
                    .map(|path| PathBuf::from(path.trim()))
                    .context("the swift-dev env file names no SWIFTGIT_TEST_CONFIG")?
            }
        };
        let (version, max_file_size) = info(&config).unwrap_or((None, None));
        Ok(SwiftDev {
            config,
            version,
            max_file_size,
            started,
        })
    }
}

/// Swift's version and `max_file_size` from `GET /info` on the host of the config's
/// `auth_url` (tempauth serves both); `None` when that is not a Swift proxy.
fn info(config: &Path) -> Option<(Option<String>, Option<u64>)> {
    let text = std::fs::read_to_string(config).ok()?;
    let url = text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "auth_url").then(|| value.trim().to_owned())
    })?;
    let host = url.strip_prefix("http://")?.split('/').next()?.to_owned();
    let mut stream = TcpStream::connect(&host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET /info HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (_, body) = response.split_once("\r\n\r\n")?;
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let swift = &value["swift"];
    Some((
        swift["version"].as_str().map(str::to_owned),
        swift["max_file_size"].as_u64(),
    ))
}

impl Drop for SwiftDev {
    fn drop(&mut self) {
        if let Some(script) = &self.started {
            eprintln!("bench: stopping the Swift it started (scripts/swift-dev stop)");
            let _ = command(&script.to_string_lossy()).arg("stop").status();
        }
    }
}
