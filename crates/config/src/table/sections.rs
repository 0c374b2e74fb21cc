//! The tables themselves: one module per section, each with a constant per key and its
//! `TABLE`. Key names and defaults are what users' files rely on: change neither.
//!
//! A default written empty means "unset"; the key's doc says what unset means.

use super::{InDefaultsFile, Key, SectionTable};

/// Declares a section's module: a `Key` constant per key, and `TABLE` listing exactly those.
macro_rules! section_table {
    (
        $(#[$meta:meta])*
        mod $module:ident = $name:literal, patterned: $patterned:literal,
        $written:ident, $doc:literal {
            $($konst:ident = $key:literal, $default:literal, $kdoc:literal;)*
        }
    ) => {
        $(#[$meta])*
        pub mod $module {
            use super::{InDefaultsFile, Key, SectionTable};
            $(
                #[doc = $kdoc]
                pub const $konst: Key = Key::new($name, $key, $default, $kdoc);
            )*
            /// This section's table.
            pub const TABLE: SectionTable = SectionTable {
                name: $name,
                patterned: $patterned,
                doc: $doc,
                in_defaults_file: InDefaultsFile::$written,
                keys: &[$($konst),*],
            };
        }
    };
}

section_table! {
    /// `[swift]`: the dulwich seed's 11 keys and the Keystone v3 domains.
    mod swift = "swift", patterned: false, Commented,
    "Repositories in OpenStack Swift, one container each (instead of [local])" {
        AUTH_URL = "auth_url", "", "Authentication URL (Keystone or Swift); required";
        AUTH_VER = "auth_ver", "", "1 (Swift tempauth), 2 (Keystone v2.0) or 3 (Keystone v3); unset: from the URL (.../v3 -> 3, .../v2.0 -> 2, else 1)";
        USERNAME = "username", "", "tenant (project) and user separated by a semicolon (tenant;user); for auth 1, sent as tenant:user; required";
        PASSWORD = "password", "", "The user's password; required";
        REGION_NAME = "region_name", "RegionOne", "Region of the object-store endpoint in the catalog (auth 2 and 3)";
        ENDPOINT_TYPE = "endpoint_type", "internalURL", "internalURL, publicURL or adminURL (auth 3: the internal/public/admin interface)";
        CONCURRENCY = "concurrency", "10", "Parallel requests for one task: large-object segments, cold pack reads";
        HTTP_POOL_LENGTH = "http_pool_length", "10", "Most HTTP connections open to Swift at once";
        HTTP_TIMEOUT = "http_timeout", "20", "Seconds before a connection attempt or a stalled read fails";
        CHUNK_LENGTH = "chunk_length", "12228", "Unit of pack reads, bytes";
        CACHE_LENGTH = "cache_length", "20", "Pack block cache of the whole daemon (all repositories), MiB";
        USER_DOMAIN_NAME = "user_domain_name", "Default", "auth 3 only: domain of the user";
        PROJECT_DOMAIN_NAME = "project_domain_name", "Default", "auth 3 only: domain of the project";
    }
}

section_table! {
    /// `[local]`: a local directory instead of Swift.
    mod local = "local", patterned: false, Active,
    "Repositories in a local directory, one subdirectory each (instead of [swift])" {
        PATH = "path", "./swiftgit-data", "Directory of the repositories";
    }
}

section_table! {
    /// `[daemon]`: `swiftgit daemon`; its flags win.
    mod daemon = "daemon", patterned: false, Active,
    "swiftgit daemon (its flags win); listen and port are git://'s, the rest applies to HTTP too" {
        LISTEN = "listen", "127.0.0.1", "-l: address to bind";
        PORT = "port", "9418", "-p: TCP port (0 picks a free one)";
        READ_ONLY = "read_only", "false", "--read-only: refuse every push";
        MAX_CONNECTIONS = "max_connections", "256", "--max-connections: connections served at once; more wait in the backlog";
        IDLE_TIMEOUT = "idle_timeout", "60", "--idle-timeout: seconds a client may stay silent, or leave a response unread";
        SHUTDOWN_GRACE = "shutdown_grace", "30", "Seconds requests in flight get after SIGTERM / SIGINT";
        LOG_FORMAT = "log_format", "text", "--log-format: text, or json (one object per line, for log shippers); every command";
        DENY_NON_FAST_FORWARDS = "deny_non_fast_forwards", "", "As in [repository], which it overrides when set";
        DENY_DELETES = "deny_deletes", "", "As in [repository], which it overrides when set";
        DENY_DELETE_CURRENT = "deny_delete_current", "", "As in [repository], which it overrides when set";
    }
}

section_table! {
    /// `[repository]`: new repositories and the pushes they take.
    mod repository = "repository", patterned: false, Active,
    "New repositories and the pushes they take" {
        INITIAL_BRANCH = "initial_branch", "master", "HEAD of repositories made by `swiftgit init` (--initial-branch)";
        DENY_NON_FAST_FORWARDS = "deny_non_fast_forwards", "false", "git's receive.denyNonFastForwards: branches only move forward, even when forced";
        DENY_DELETES = "deny_deletes", "false", "git's receive.denyDeletes: branches cannot be deleted";
        DENY_DELETE_CURRENT = "deny_delete_current", "true", "git's receive.denyDeleteCurrent: the branch HEAD names cannot be deleted";
    }
}

section_table! {
    /// `[http]`: the smart HTTP(S) server.
    mod http = "http", patterned: false, Active,
    "Smart HTTP(S), with users and permissions (the --http flag overrides listen)" {
        LISTEN = "listen", "", "ADDR:PORT to serve HTTP(S) on (--http); unset: no HTTP server";
        TLS_CERT = "tls_cert", "", "PEM certificate chain: HTTPS when tls_cert and tls_key are set";
        TLS_KEY = "tls_key", "", "PEM private key of tls_cert";
        MAX_BODY_BYTES = "max_body_bytes", "4294967296", "Largest request body in bytes, as sent (413 beyond; 4 GiB)";
        USERS_FILE = "users_file", "", "NAME:ARGON2-HASH lines, written by `swiftgit user add`";
        ANONYMOUS_READ = "anonymous_read", "false", "Anonymous reads of repositories that no [access] section matches";
        DEFAULT_ACCESS = "default_access", "read", "What authenticated users may do on repositories that no [access] section matches: none, read, or write (read and push)";
        KEYSTONE = "keystone", "false", "Keystone v3 for users not in users_file: false, true ([swift] auth_url with auth_ver = 3) or a .../v3 URL";
        KEYSTONE_USER_DOMAIN = "keystone_user_domain", "Default", "Domain of Keystone users (and of keystone_project)";
        KEYSTONE_PROJECT = "keystone_project", "", "A project to scope Keystone checks to; unset: unscoped";
        HEADER_TIMEOUT = "header_timeout", "30", "Seconds to wait for request headers (and the TLS handshake)";
        IDLE_TIMEOUT = "idle_timeout", "60", "Seconds to wait for more of a body, or for the client to read more of a response";
        LOGIN_FAILURES = "login_failures", "10", "Wrong passwords one address may send before its logins get 429 (one is forgiven every 6 s); 0: no limit";
    }
}

section_table! {
    /// `[access "PATTERN"]`: who may read and push the repositories PATTERN names.
    mod access = "access", patterned: true, Commented,
    "Permissions of the repositories PATTERN names (a name, or a glob with * and ?): the exact name wins, else the longest glob" {
        READ = "read", "", "Users who may read (comma-separated; * for every authenticated user)";
        WRITE = "write", "", "Users who may push, and read (comma-separated; * for every authenticated user)";
        ANONYMOUS_READ = "anonymous_read", "false", "Anyone may read, without a password";
    }
}

section_table! {
    /// `[cache]`: the disk cache of pack files and the memory budget of open repositories.
    mod cache = "cache", patterned: false, Active,
    "Disk cache of pack files in front of Swift (--cache-dir, --no-disk-cache), memory of open repositories" {
        DIR = "dir", "", "Directory of the copies; unset: $XDG_CACHE_HOME/swiftgit/packs, else ~/.cache/swiftgit/packs, else /tmp/swiftgit-<uid>/packs";
        DISK_MB = "disk_mb", "4096", "Most MiB of copies kept; 0 turns the disk cache off";
        MEMORY_MB = "memory_mb", "256", "MiB that open repositories keep in memory besides the block cache (pack indexes and metadata, refs)";
    }
}

section_table! {
    /// `[maintenance]`: repacking, pruning and log compaction.
    mod maintenance = "maintenance", patterned: false, Active,
    "Repacking, pruning and log compaction (swiftgit gc, and the daemon after pushes)" {
        AUTO = "auto", "true", "Run in the daemon after pushes that cross a threshold (never in a --read-only daemon)";
        MAX_PACKS = "max_packs", "16", "Threshold: live packs";
        SMALL_PACKS_MB = "small_packs_mb", "64", "Threshold: MiB a geometric roll-up would combine";
        MAX_LOG_ENTRIES = "max_log_entries", "1000", "Threshold: log entries since the daemon's last run on the repository";
        PRUNE = "prune", "2 weeks", "How long unreachable objects stay readable and stored packs no state names stay (now, never, 2 weeks, 3d, 12h, ...)";
        RETIRE_AFTER = "retire_after", "1 hour", "How long packs a repack replaced stay stored (at most prune)";
    }
}

section_table! {
    /// `[coordinator]`: etcd, for several writing daemons.
    mod coordinator = "coordinator", patterned: false, Commented,
    "etcd decides every state change: any number of daemons may write (present: on)" {
        ETCD_ENDPOINTS = "etcd_endpoints", "", "etcd's client URLs, comma-separated (http:// or https://); required";
        ETCD_USER = "etcd_user", "", "etcd's user, if etcd authentication is on";
        ETCD_PASSWORD = "etcd_password", "", "etcd's password of etcd_user";
        ETCD_CA_FILE = "etcd_ca_file", "", "PEM file of the CA that signed the https:// endpoints' certificates";
        ETCD_PREFIX = "etcd_prefix", "swiftgit/", "Prefix of every key swiftgit writes in etcd";
        TIMEOUT = "timeout", "", "Seconds one etcd call may take, retries across endpoints included; unset: [swift] http_timeout (20)";
    }
}

section_table! {
    /// `[metrics]`: Prometheus metrics and health checks.
    mod metrics = "metrics", patterned: false, Active,
    "Prometheus metrics and health checks" {
        LISTEN = "listen", "", "ADDR:PORT: serve Prometheus metrics and /healthz, /readyz here; unset: off";
    }
}

/// Every table, in the order of the defaults file.
pub const ALL: [&SectionTable; 10] = [
    &swift::TABLE,
    &local::TABLE,
    &daemon::TABLE,
    &repository::TABLE,
    &http::TABLE,
    &access::TABLE,
    &cache::TABLE,
    &maintenance::TABLE,
    &coordinator::TABLE,
    &metrics::TABLE,
];
