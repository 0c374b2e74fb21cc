//! The `swiftgit` command: parses flags, loads the config, starts logging, builds the storage
//! backend and runs one subcommand. Everything else lives in the library crates.

mod admin;
mod allocator;
mod backend;
mod cache_settings;
mod config_command;
mod coordinator_settings;
mod daemon;
mod gc;
mod http_server;
mod http_settings;
mod init;
mod logging;
mod maintenance_settings;
mod metrics;
mod metrics_settings;
mod settings;
mod stats_file;
mod systemd;
mod user;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use swiftgit_config::sections::{self, cache, http, maintenance, repository};
use swiftgit_config::table::Key;
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

    #[arg(long = "log-format", value_enum, global = true, value_name = "FORMAT",
          help = flag_help("Log lines as text, or as JSON objects (one a line, the event's fields \
as keys) for log shippers.", sections::daemon::LOG_FORMAT))]
    log_format: Option<logging::LogFormat>,

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
        /// Repository name (becomes the container name; a trailing .git is dropped).
        name: String,
        #[arg(short = 'b', long = "initial-branch", value_name = "BRANCH",
              help = flag_help("The branch HEAD names.", repository::INITIAL_BRANCH))]
        initial_branch: Option<String>,
    },
    /// Serve repositories over git:// (no authentication, no encryption) and smart HTTP(S).
    #[command(
        long_about = "Serve every repository over the git:// protocol (git clone/fetch/\
ls-remote/push git://HOST[:PORT]/NAME).\n\nWARNING: git:// has no authentication and no \
encryption: anyone who can reach the port can read every repository and, unless the daemon is \
--read-only, push to it. Listen on loopback or a trusted network only.\n\nFlags override the \
config file's [daemon] section (listen, port, read_only, max_connections, idle_timeout, \
shutdown_grace). Prints `swiftgit: listening on git://ADDR:PORT` on stdout once bound. \
SIGTERM or SIGINT stops accepting and lets requests in flight finish.\n\nWith --http ADDR:PORT \
(or [http] listen) the same process also serves smart HTTP(S), with Basic authentication \
([http] users_file, see `swiftgit user add`) and per-repository permissions ([access \"PATTERN\"] \
sections); --no-git-daemon serves HTTP only. Prints `swiftgit: listening on http://ADDR:PORT`.\
\n\nOn Swift, pack files are kept in a disk cache ([cache] dir and disk_mb; --cache-dir, \
--no-disk-cache). In memory, all repositories share one block cache ([swift] cache_length), and \
the repositories kept open hold at most [cache] memory_mb besides: the least recently used are \
closed beyond it.\n\nAfter pushes, a repository with too many packs or log entries is \
repacked, pruned and compacted in the background ([maintenance] auto; see `swiftgit gc \
--help`).\n\nWith --metrics ADDR:PORT (or [metrics] listen) it serves Prometheus metrics on \
GET /metrics (requests, storage calls, caches, pushes, maintenance, etcd transactions; names \
start with swiftgit_), GET /healthz (200 while the process serves) and GET /readyz (200 when the \
storage answers with valid credentials and, with [coordinator], etcd has a leader; else 503, \
with a JSON body saying what failed), and prints `swiftgit: metrics on http://ADDR:PORT`.\n\n\
`swiftgit config --defaults` prints every key of the config file with its default."
    )]
    Daemon {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(short = 'l', long = "listen", value_name = "ADDR",
              help = flag_help("Address to listen on.", sections::daemon::LISTEN))]
        listen: Option<String>,
        #[arg(short = 'p', long = "port",
              help = flag_help("TCP port; 0 picks a free one.", sections::daemon::PORT))]
        port: Option<u16>,
        /// Refuse every push.
        #[arg(long = "read-only")]
        read_only: bool,
        #[arg(long = "max-connections", value_name = "N", value_parser = clap::value_parser!(u64).range(1..),
              help = flag_help("Connections served at once; more wait in the kernel's backlog.",
                               sections::daemon::MAX_CONNECTIONS))]
        max_connections: Option<u64>,
        #[arg(long = "idle-timeout", value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..),
              help = flag_help("Seconds a client may stay silent, or leave a response unread, \
before it is disconnected.", sections::daemon::IDLE_TIMEOUT))]
        idle_timeout: Option<u64>,
        #[arg(long = "http", value_name = "ADDR:PORT",
              help = flag_help("Also serve smart HTTP(S) on ADDR:PORT (port 0: any free one).",
                               http::LISTEN))]
        http: Option<String>,
        /// Serve smart HTTP only (needs --http or [http] listen).
        #[arg(long = "no-git-daemon")]
        no_git_daemon: bool,
        /// Keep PATH up to date with the storage request and byte counters (JSON, rewritten
        /// within 50 ms of a change; for benchmarks and monitoring).
        #[arg(long = "stats-file", value_name = "PATH")]
        stats_file: Option<PathBuf>,
        #[arg(long = "cache-dir", value_name = "PATH",
              help = flag_help("Directory of the disk cache of pack files (Swift only).", cache::DIR))]
        cache_dir: Option<PathBuf>,
        /// No disk cache of pack files: every read goes to Swift.
        #[arg(long = "no-disk-cache", conflicts_with = "cache_dir")]
        no_disk_cache: bool,
        /// Serve Prometheus metrics (GET /metrics) and health checks (/healthz, /readyz) on
        /// ADDR:PORT (port 0: any free one) [default: [metrics] listen, else off].
        #[arg(long = "metrics", value_name = "ADDR:PORT")]
        metrics: Option<String>,
    },
    /// Manage the users of the smart HTTP server.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Repack, prune and compact the log of repository NAME, or of every repository.
    #[command(
        long_about = "Repack, prune and compact the log of repository NAME (or of every \
repository with --all), online: pushes and fetches go on meanwhile.\n\nSmall packs are rolled \
up into one so that the packs left grow geometrically (--full: one pack of everything \
reachable). Objects no ref reaches move to a garbage pack that stays readable for the prune \
grace period ([maintenance] prune), then go; packs no state names (left by killed pushes) are \
deleted after the same period, packs a repack replaced after [maintenance] retire_after (at most \
the prune period). Log entries older than the newest \
checkpoint and the grace period (at least 1 hour) are deleted.\n\n--prune=now deletes \
unreachable objects at once, and with them the objects of a push in progress that no ref names \
yet: use it only when nothing pushes. One run per repository at a time across all daemons; \
without [coordinator], only the process holding the repository's writer lease (a daemon \
serving pushes to it) may run it, and that daemon does so by itself ([maintenance] auto)."
    )]
    Gc {
        #[command(flatten)]
        config: ConfigArgs,
        /// Repository name.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Every repository of the storage.
        #[arg(long = "all")]
        all: bool,
        #[arg(long = "prune", value_name = "DURATION",
              help = flag_help("How long unreachable objects stay readable: now, never, or e.g. \
\"2 weeks\", \"2.weeks.ago\", 3d, 12h. Given, every pack holding unreachable objects is \
rewritten.", maintenance::PRUNE))]
        prune: Option<String>,
        /// Write one pack of everything reachable.
        #[arg(long = "full")]
        full: bool,
    },
    /// Check the config and the storage: authenticate and list repositories.
    Check {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List repositories with their refs, packs, size and last push.
    #[command(
        long_about = "List every repository of the storage: its refs, the packs its state \
names, the bytes of all its stored pack files (packs no state names included) and the time of \
its last push (the newest of its last 16 log entries that changed refs, by its writer's clock; \
`-` if none did).\n\nExit status: 0, or 1 if a repository could not be read."
    )]
    List {
        #[command(flatten)]
        config: ConfigArgs,
        /// One JSON array instead of a table.
        #[arg(long = "json")]
        json: bool,
    },
    /// Delete repository NAME: every object of its container, then the container.
    #[command(
        long_about = "Delete repository NAME: every object of its container, then the \
container, and with [coordinator] its registration in etcd.\n\nOn a terminal the name must be \
typed again; otherwise pass --yes.\n\nIt first takes the repository's maintenance lock. \
Without [coordinator] that is the writer lease, which a daemon holds while it pushed to the \
repository in the last ten minutes: the command then refuses, naming that daemon, and once it \
holds the lease daemons' pushes are refused. With etcd only maintenance runs are kept away: a \
push in flight cannot be seen before it commits. --force deletes without the lock (a \
container that holds no repository too).\n\nExit status: 0 when deleted, 1 otherwise, 2 for a \
usage error."
    )]
    Delete {
        #[command(flatten)]
        config: ConfigArgs,
        /// Repository name.
        name: String,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes")]
        yes: bool,
        /// Delete without taking the repository's lock (or a container that holds no
        /// repository).
        #[arg(long = "force")]
        force: bool,
    },
    /// Check repository NAME, or every repository: packs, indexes, connectivity, orphan packs.
    #[command(
        long_about = "Check repository NAME (or every repository with --all): every pack its \
state names is read whole and must match its checksum, name and index, and every index its own \
checksum; every ref's object must be present and everything the refs reach must be found (as \
`git fsck --connectivity-only`). Stored packs no state names (orphans) are listed with what \
maintenance knows of them; they are not problems (a killed push leaves one; `swiftgit gc` \
deletes them after the prune grace).\n\n--repair re-adopts orphan packs holding objects the \
refs need (the state a lost race between two uncoordinated writers leaves) and drops unsound \
packs whose objects are all elsewhere, in one state change under the maintenance lock, then \
checks again.\n\nExit status: 0 if every repository is sound, 1 if problems were found (or \
remain after --repair) or a check failed, 2 for a usage error."
    )]
    Fsck {
        #[command(flatten)]
        config: ConfigArgs,
        /// Repository name.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Every repository of the storage.
        #[arg(long = "all")]
        all: bool,
        /// Repair what can be repaired, then check again.
        #[arg(long = "repair")]
        repair: bool,
        /// One JSON array of reports instead of text.
        #[arg(long = "json")]
        json: bool,
    },
    /// Make repository NAME from a git repository (a path or any URL git clones).
    #[command(
        long_about = "Make repository NAME from a git repository: SOURCE is a path or any URL \
`git clone --mirror` accepts (the real git fetches it into a temporary directory). Every ref \
and HEAD are imported, with one pack of all their objects, in one state change. NAME is \
created if it does not exist; an existing repository must have no refs unless --force, which \
replaces its refs with the source's (refs only it has are deleted). A shallow source is \
refused.\n\nExit status: 0 when imported, 1 otherwise, 2 for a usage error."
    )]
    Import {
        #[command(flatten)]
        config: ConfigArgs,
        /// A path or URL of a git repository.
        source: String,
        /// Repository name.
        name: String,
        /// Replace the refs of an existing repository that has some.
        #[arg(long = "force")]
        force: bool,
    },
    /// Write repository NAME out as a bare git repository, or a bundle.
    #[command(
        long_about = "Write repository NAME out as the bare git repository PATH (absent or an \
empty directory), or with --bundle as a git bundle: its packs go through `git index-pack`, its \
refs and HEAD are set, and `git fsck --connectivity-only` checks the result.\n\nExit status: \
0 when written, 1 otherwise, 2 for a usage error."
    )]
    Export {
        #[command(flatten)]
        config: ConfigArgs,
        /// Repository name.
        name: String,
        /// The bare repository to write.
        #[arg(required_unless_present = "bundle", conflicts_with = "bundle")]
        path: Option<PathBuf>,
        /// Write a bundle (`git bundle create --all`) to FILE instead.
        #[arg(long = "bundle", value_name = "FILE")]
        bundle: Option<PathBuf>,
    },
    /// Print the config file's reference: every section and key with its default.
    Config {
        /// Print a config file with every section and key at its default, each with its doc as
        /// a comment. It loads as it is; sections whose presence alone turns something on
        /// ([swift], [access "PATTERN"], [coordinator]) are commented out.
        #[arg(long = "defaults", required = true)]
        defaults: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add NAME to the users file, or change its password. The password is prompted for on a
    /// terminal, else read from the first line of standard input; only its argon2 hash is stored.
    Add {
        #[command(flatten)]
        config: ConfigArgs,
        /// User name (letters, digits, '.', '_', '-', '@').
        name: String,
        #[arg(long = "users-file", value_name = "FILE",
              help = flag_help("The users file.", http::USERS_FILE))]
        users_file: Option<PathBuf>,
    },
    /// Print the names of the users in the users file.
    List {
        #[command(flatten)]
        config: ConfigArgs,
        /// The users file [default: [http] users_file].
        #[arg(long = "users-file", value_name = "FILE")]
        users_file: Option<PathBuf>,
    },
    /// Remove NAME from the users file.
    Remove {
        #[command(flatten)]
        config: ConfigArgs,
        /// User name.
        name: String,
        /// The users file [default: [http] users_file].
        #[arg(long = "users-file", value_name = "FILE")]
        users_file: Option<PathBuf>,
    },
}

/// A flag's help that ends with the config key it overrides and that key's default (from the
/// key's table, so that no default is written twice).
fn flag_help(text: &str, key: Key) -> String {
    let text = text.trim_end_matches('.');
    match key.default_text() {
        "" => format!("{text} [default: [{}] {}]", key.section(), key.name()),
        default => format!(
            "{text} [default: [{}] {}, else {default}]",
            key.section(),
            key.name()
        ),
    }
}

impl Command {
    /// The config flags of the command, if it reads a config.
    fn config_args(&self) -> Option<&ConfigArgs> {
        match self {
            Command::Init { config, .. }
            | Command::Daemon { config, .. }
            | Command::Gc { config, .. }
            | Command::Check { config }
            | Command::List { config, .. }
            | Command::Delete { config, .. }
            | Command::Fsck { config, .. }
            | Command::Import { config, .. }
            | Command::Export { config, .. }
            | Command::User {
                command:
                    UserCommand::Add { config, .. }
                    | UserCommand::List { config, .. }
                    | UserCommand::Remove { config, .. },
            } => Some(config),
            Command::Config { .. } => None,
        }
    }
}

/// `--log-format`, else the command's config's `[daemon] log_format`, read before logging
/// starts so that loading the config is logged in that format too (a config that does not load,
/// or an invalid value, is reported when the command loads it: meanwhile, text).
fn log_format(cli: &Cli) -> logging::LogFormat {
    if let Some(format) = cli.log_format {
        return format;
    }
    cli.command
        .config_args()
        .and_then(|args| {
            let source =
                ConfigSource::locate(args.config.as_deref(), |name| std::env::var(name).ok());
            Config::load(&source, |name| std::env::var(name).ok()).ok()
        })
        .and_then(|config| logging::configured_format(&config).ok())
        .unwrap_or(logging::LogFormat::Text)
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
    logging::configured_format(&config)?;
    Ok(config)
}

/// The users file: `--users-file`, else `[http] users_file` of the config.
fn users_file_of(config: &ConfigArgs, flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let configured = match &flag {
        Some(_) => None,
        None => http_settings::HttpSettings::load(&load_config(config)?, None)?.users_file,
    };
    user::users_file_path(flag, configured)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Config { defaults: _ } => config_command::print_defaults(),
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
            coordinator_settings::check(&config).await
        }
        Command::User { command } => match command {
            UserCommand::Add {
                config,
                name,
                users_file,
            } => user::add(&users_file_of(&config, users_file)?, &name),
            UserCommand::List { config, users_file } => {
                user::list(&users_file_of(&config, users_file)?)
            }
            UserCommand::Remove {
                config,
                name,
                users_file,
            } => user::remove(&users_file_of(&config, users_file)?, &name),
        },
        Command::List { config, json } => admin::list::run(&load_config(&config)?, json).await,
        Command::Delete {
            config,
            name,
            yes,
            force,
        } => {
            let request = admin::delete::DeleteRequest { name, yes, force };
            admin::delete::run(&load_config(&config)?, &request).await
        }
        Command::Fsck {
            config,
            name,
            all: _,
            repair,
            json,
        } => {
            let request = admin::fsck::FsckRequest { name, repair, json };
            admin::fsck::run(&load_config(&config)?, &request).await
        }
        Command::Import {
            config,
            source,
            name,
            force,
        } => {
            let request = admin::import::ImportRequest {
                source,
                name,
                force,
            };
            admin::import::run(&load_config(&config)?, &request).await
        }
        Command::Export {
            config,
            name,
            path,
            bundle,
        } => {
            let request = admin::export::ExportRequest { name, path, bundle };
            admin::export::run(&load_config(&config)?, &request).await
        }
        Command::Gc {
            config,
            name,
            all: _,
            prune,
            full,
        } => {
            let config = load_config(&config)?;
            gc::run(&config, &gc::GcRequest { name, prune, full }).await
        }
        Command::Init {
            config,
            name,
            initial_branch,
        } => {
            let config = load_config(&config)?;
            init::run(&config, &name, initial_branch.as_deref()).await
        }
        Command::Daemon {
            config,
            listen,
            port,
            read_only,
            max_connections,
            idle_timeout,
            http,
            no_git_daemon,
            stats_file,
            cache_dir,
            no_disk_cache,
            metrics,
        } => {
            let config = load_config(&config)?;
            let flags = settings::DaemonFlags {
                listen,
                port,
                read_only,
                max_connections: max_connections.map(|n| n as usize),
                idle_timeout_secs: idle_timeout,
                http,
                no_git_daemon,
                cache_dir,
                no_disk_cache,
                metrics,
            };
            daemon::run(&config, &flags, stats_file).await
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose, log_format(&cli));
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
