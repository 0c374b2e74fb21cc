//! The `swiftgit` command: parses flags, loads the config, starts logging, builds the storage
//! backend and runs one subcommand. Everything else lives in the library crates.

mod backend;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use swiftgit_config::{Config, ConfigSource};

#[derive(Debug, Parser)]
#[command(
    name = "swiftgit",
    version,
    about = "A Git server that keeps every repository in OpenStack Swift",
    long_about = "A Git server that keeps every repository in OpenStack Swift (one container per \
repository) and serves it to the standard git client.\n\nConfig: -c FILE, else $SWIFTGIT_CONFIG, \
else $DULWICH_SWIFT_CFG (the dulwich seed's variable), else the embedded default: a local \
directory, ./swiftgit-data (or $SWIFTGIT_DATA_DIR), no Swift needed."
)]
struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// Config file (the seed's [swift] INI format).
    #[arg(short = 'c', long = "config", value_name = "CONF")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a repository (a Swift container) named NAME.
    Init {
        #[command(flatten)]
        config: ConfigArgs,
        /// Repository name (becomes the container name).
        name: String,
    },
    /// Serve repositories over git:// (no authentication or encryption, as in the seed).
    Daemon {
        #[command(flatten)]
        config: ConfigArgs,
        /// Address to listen on.
        #[arg(short = 'l', long = "listen", default_value = "127.0.0.1")]
        listen: String,
        /// TCP port.
        #[arg(short = 'p', long = "port", default_value_t = 9418)]
        port: u16,
    },
    /// Check the config and the storage: authenticate and list repositories.
    Check {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn load_config(args: &ConfigArgs) -> anyhow::Result<Config> {
    let source = ConfigSource::locate(args.config.as_deref(), |name| std::env::var(name).ok());
    let config = Config::load(&source, |name| std::env::var(name).ok())?;
    match &config.origin {
        Some(path) => tracing::info!(config = %path.display(), "loaded config"),
        None => {
            tracing::info!(storage = ?config.storage, "no config file: using the embedded default")
        }
    }
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    Ok(config)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Check { config } => {
            let config = load_config(&config)?;
            let storage = backend::open(&config).await?;
            let containers = storage
                .list_containers()
                .await
                .context("cannot list repositories")?;
            println!("storage OK: {} container(s)", containers.len());
            for name in containers {
                println!("{name}");
            }
            Ok(())
        }
        Command::Init { config, name } => {
            let _config = load_config(&config)?;
            anyhow::bail!("`swiftgit init {name}` is not implemented yet")
        }
        Command::Daemon {
            config,
            listen,
            port,
        } => {
            let _config = load_config(&config)?;
            anyhow::bail!("`swiftgit daemon` on {listen}:{port} is not implemented yet")
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("swiftgit: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("swiftgit: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
