//! The admin commands as an operator runs them: `import` of a real repository then clones
//! through the daemon, `export` back to git (bare repository and bundle), `fsck` on deliberate
//! damage and the "lost race" state with `--repair`, `delete`, `list`, `user list/remove`.
//! On a temporary local directory, and the import/clone, repair and delete cases also on the
//! real test Swift with `SWIFTGIT_TEST_CONFIG`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

use common::listening_address;
use swiftgit_repo::odb::{IngestLimits, ObjectDb, OdbOptions};
use swiftgit_repo::{
    ObjectId, RefName, RefTransaction, RefUpdate, RepoName, Repository, RepositoryOptions,
};
use swiftgit_storage::{PutMode, Storage};
use swiftgit_test_support::git::Git;

const BINARY: &str = env!("CARGO_BIN_EXE_swiftgit");

/// Where the repositories live: a local directory, or the test Swift.
struct Site {
    data: tempfile::TempDir,
    /// `-c CONF`, if any (without: the embedded default on `data`).
    config: Option<PathBuf>,
    swift: bool,
    runtime: tokio::runtime::Runtime,
}

impl Site {
    fn local() -> Site {
        Site {
            data: tempfile::tempdir().expect("a data directory"),
            config: None,
            swift: false,
            runtime: tokio::runtime::Runtime::new().expect("a runtime"),
        }
    }

    /// The local directory with the test etcd as `[coordinator]` (a key prefix of its own), or
    /// `None` (the case is skipped, saying so).
    fn local_with_etcd(test: &str) -> Option<Site> {
        let Some(endpoints) = std::env::var("SWIFTGIT_TEST_ETCD")
            .ok()
            .filter(|v| !v.is_empty())
        else {
            eprintln!("skipped {test}: SWIFTGIT_TEST_ETCD is not set (scripts/etcd-dev start)");
            return None;
        };
        let mut site = Site::local();
        let config = site.data.path().join("swiftgit.conf");
        let text = format!(
            "[local]\npath = {}\n[coordinator]\netcd_endpoints = {endpoints}\n\
             etcd_prefix = swiftgit-test-admin-{}-{:x}/\n",
            site.data.path().join("repos").display(),
            std::process::id(),
            rand::random::<u32>()
        );
        std::fs::write(&config, text).expect("write the config");
        site.config = Some(config);
        Some(site)
    }

    /// The test Swift, or `None` (the case is skipped, saying so).
    fn swift(test: &str) -> Option<Site> {
        let Some(config) = std::env::var_os("SWIFTGIT_TEST_CONFIG").filter(|v| !v.is_empty())
        else {
            eprintln!("skipped {test} on Swift: SWIFTGIT_TEST_CONFIG is not set");
            return None;
        };
        Some(Site {
            config: Some(PathBuf::from(config)),
            swift: true,
            ..Site::local()
        })
    }

    /// A repository name of its own on Swift (the account is shared).
    fn name(&self, base: &str) -> String {
        match self.swift {
            false => base.to_owned(),
            true => format!("{base}-{}-{:x}", std::process::id(), rand::random::<u32>()),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BINARY);
        command
            .args(args)
            .env_remove("SWIFTGIT_CONFIG")
            .env_remove("DULWICH_SWIFT_CFG")
            .env("SWIFTGIT_DATA_DIR", self.data.path().join("repos"))
            .env("XDG_CACHE_HOME", self.data.path().join("cache"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("swiftgit runs")
    }

    /// Runs swiftgit, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "swiftgit {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs swiftgit, which must exit with `code`; stdout and stderr.
    fn fails(&self, args: &[&str], code: i32) -> (String, String) {
        let output = self.run(args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        );
        assert_eq!(
            output.status.code(),
            Some(code),
            "swiftgit {args:?}: {stdout}{stderr}"
        );
        (stdout, stderr)
    }

    fn storage(&self) -> Arc<dyn Storage> {
        match self.swift {
            false => Arc::new(
                swiftgit_storage::local::LocalStorage::open(self.data.path().join("repos"))
                    .expect("the data directory"),
            ),
            true => {
                let swift = swiftgit_test_support::swift_test_config().expect("a Swift config");
                self.runtime.block_on(async {
                    Arc::new(
                        swiftgit_storage::swift::SwiftStorage::connect(&swift)
                            .await
                            .expect("connect to Swift"),
                    ) as Arc<dyn Storage>
                })
            }
        }
    }

    fn daemon(&self) -> Daemon {
        let mut child = self
            .command(&["daemon", "-p", "0", "--idle-timeout", "30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the daemon");
        let address = listening_address(&mut child, "git://");
        Daemon { child, address }
    }
}

/// A running `swiftgit daemon -p 0`; killed when dropped.
struct Daemon {
    child: Child,
    address: String,
}

impl Daemon {
    fn url(&self, repo: &str) -> String {
        format!("git://{}/{repo}", self.address)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A work repository with history on three branches, 30 more branches, lightweight and
/// annotated tags (one a tag of a tag), and HEAD on `main`.
fn source_repository(git: &Git) -> PathBuf {
    let dir = git.path("source");
    std::fs::create_dir_all(&dir).expect("create the source");
    git.ok(&dir, &["init", "-q", "-b", "main"]);
    for n in 0..6 {
        git.commit(
            &dir,
            &format!("file{n}"),
            &format!("content {n}\n"),
            &format!("c{n}"),
        );
        git.ok(&dir, &["tag", &format!("light{n}")]);
        git.ok(&dir, &["tag", "-a", "-m", "release", &format!("v{n}")]);
    }
    git.ok(&dir, &["tag", "-a", "-m", "nested", "nested", "v5"]);
    git.ok(&dir, &["checkout", "-q", "-b", "topic", "HEAD~3"]);
    git.commit(&dir, "topic", "topic\n", "on topic");
    git.ok(&dir, &["checkout", "-q", "main"]);
    for n in 0..30 {
        git.ok(
            &dir,
            &[
                "branch",
                &format!("feature/{n:02}"),
                &format!("HEAD~{}", n % 5),
            ],
        );
    }
    dir
}

/// Every ref with its value, as `git for-each-ref` prints them.
fn refs_of(git: &Git, dir: &Path) -> String {
    git.ok(dir, &["for-each-ref", "--format=%(objectname) %(refname)"])
}

/// Every object reachable from the refs.
fn objects_of(git: &Git, dir: &Path) -> BTreeSet<String> {
    git.ok(
        dir,
        &["rev-list", "--objects", "--all", "--no-object-names"],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

fn import_then_clone(site: &Site) {
    let git = Git::new();
    let source = source_repository(&git);
    let name = site.name("imported");
    let url = format!("file://{}", source.display());
    let printed = site.ok(&["import", &url, &name]);
    assert!(
        printed.contains("imported 45 refs") && printed.contains("(HEAD -> refs/heads/main)"),
        "{printed}"
    );
    // A second import into a repository that has refs is refused, changing nothing.
    let (_, stderr) = site.fails(&["import", source.to_str().expect("utf-8"), &name], 1);
    assert!(stderr.contains("already has 45 refs"), "{stderr}");
    // --force replaces them: a ref the source no longer has goes, a new one comes.
    git.ok(&source, &["branch", "-D", "feature/00"]);
    git.commit(&source, "late", "late\n", "late");
    git.ok(&source, &["branch", "late"]);
    site.ok(&["import", "--force", &url, &name]);

    let daemon = site.daemon();
    let clone = git.path("clone.git");
    git.ok(
        git.work.path(),
        &["clone", "-q", "--mirror", &daemon.url(&name), "clone.git"],
    );
    assert_eq!(refs_of(&git, &clone), refs_of(&git, &source));
    assert_eq!(objects_of(&git, &clone), objects_of(&git, &source));
    assert_eq!(
        git.ok(&clone, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );
    git.fsck(&clone);
    // Peeled tags are advertised as git daemon does (from what import recorded).
    let remote = git.ok(git.work.path(), &["ls-remote", &daemon.url(&name)]);
    let local = git.ok(&source, &["show-ref", "--dereference"]);
    for line in local.lines().filter(|line| line.ends_with("^{}")) {
        let (id, tag) = line.split_once(' ').expect("id and name");
        assert!(
            remote.contains(&format!("{id}\t{tag}")),
            "{tag} not peeled:\n{remote}"
        );
    }
    drop(daemon);
    site.ok(&["delete", "--yes", &name]);
}

#[test]
fn import_of_many_refs_and_tags_then_clone_is_identical() {
    import_then_clone(&Site::local());
}

#[test]
fn import_of_many_refs_and_tags_then_clone_is_identical_on_swift() {
    if let Some(site) = Site::swift("import_then_clone") {
        import_then_clone(&site);
    }
}

#[test]
fn export_round_trips_to_a_bare_repository_and_a_bundle() {
    let site = Site::local();
    let git = Git::new();
    let source = source_repository(&git);
    site.ok(&["import", source.to_str().expect("utf-8"), "round"]);

    let bare = git.path("exported.git");
    let printed = site.ok(&["export", "round", bare.to_str().expect("utf-8")]);
    assert!(
        printed.contains("exported 'round' (45 refs, 1 packs)"),
        "{printed}"
    );
    assert_eq!(refs_of(&git, &bare), refs_of(&git, &source));
    assert_eq!(objects_of(&git, &bare), objects_of(&git, &source));
    assert_eq!(
        git.ok(&bare, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );
    git.fsck(&bare);
    // Into a directory that is not empty: refused.
    let (_, stderr) = site.fails(&["export", "round", bare.to_str().expect("utf-8")], 1);
    assert!(
        stderr.contains("is not empty: nothing exported"),
        "{stderr}"
    );

    let bundle = git.path("round.bundle");
    site.ok(&[
        "export",
        "round",
        "--bundle",
        bundle.to_str().expect("utf-8"),
    ]);
    git.ok(
        git.work.path(),
        &[
            "clone",
            "-q",
            "--mirror",
            bundle.to_str().expect("utf-8"),
            "from-bundle.git",
        ],
    );
    let from_bundle = git.path("from-bundle.git");
    assert_eq!(refs_of(&git, &from_bundle), refs_of(&git, &source));

    // And back in: the exported repository imports to the same refs.
    site.ok(&["import", bare.to_str().expect("utf-8"), "again"]);
    let again = git.path("again.git");
    site.ok(&["export", "again", again.to_str().expect("utf-8")]);
    assert_eq!(refs_of(&git, &again), refs_of(&git, &source));

    // Neither PATH nor --bundle: a usage error.
    site.fails(&["export", "round"], 2);
}

/// Stores a pack of `git pack-objects` over `revs` (rev-list arguments) in `name`, through the
/// library, without naming it in any state; its id.
fn store_pack(
    site: &Site,
    git: &Git,
    source: &Path,
    name: &str,
    revs: &str,
) -> swiftgit_repo::PackId {
    let pack = git.output_with_input(
        source,
        &["pack-objects", "--revs", "--stdout", "-q"],
        revs.as_bytes(),
    );
    let storage = site.storage();
    site.runtime.block_on(async {
        let odb = ObjectDb::open(storage, name.to_owned(), &[], OdbOptions::default())
            .await
            .expect("an object database");
        let ingested = odb
            .ingest(&pack[..], &IngestLimits::default(), Arc::new(()))
            .await
            .expect("the pack is stored");
        ingested.pack_id().expect("not empty")
    })
}

/// `fsck --json` of `name`: exit code and the one report.
fn fsck_json(site: &Site, name: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["fsck", "--json", name];
    args.extend_from_slice(extra);
    let output = site.run(&args);
    let reports: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"));
    (
        output.status.code().expect("an exit code"),
        reports[0].clone(),
    )
}

#[test]
fn fsck_finds_a_removed_pack_a_truncated_index_and_an_orphan_pack() {
    let site = Site::local();
    let git = Git::new();
    let source = git.work_repo("work");
    site.ok(&["import", source.to_str().expect("utf-8"), "damaged"]);
    // Two more packs, pushed through the daemon.
    let daemon = site.daemon();
    for n in 0..2 {
        git.commit(&source, "file", &format!("{n}\n"), &format!("push {n}"));
        git.ok(&source, &["push", "-q", &daemon.url("damaged"), "master"]);
    }
    drop(daemon);
    let (code, report) = fsck_json(&site, "damaged", &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["packs"].as_array().expect("packs").len(), 3);
    assert_eq!(report["problems"], serde_json::json!([]));
    assert_eq!(report["orphans"], serde_json::json!([]));
    assert!(report["reachable_objects"].as_u64().expect("walked") >= 9);
    let text = site.ok(&["fsck", "damaged"]);
    assert!(text.starts_with("damaged: OK (state "), "{text}");

    let orphan = store_pack(&site, &git, &source, "damaged", "master\n");
    let storage = site.storage();
    let packs: Vec<String> = report["packs"]
        .as_array()
        .expect("packs")
        .iter()
        .map(|pack| pack["pack"].as_str().expect("a name").to_owned())
        .collect();
    let (removed, truncated) = (&packs[0], &packs[1]);
    site.runtime.block_on(async {
        storage
            .delete("damaged", &format!("objects/pack/{removed}.pack"))
            .await
            .expect("delete a pack");
        let idx = format!("objects/pack/{truncated}.idx");
        let bytes = storage
            .get("damaged", &idx)
            .await
            .expect("the index")
            .bytes()
            .await
            .expect("its bytes");
        storage
            .put(
                "damaged",
                &idx,
                bytes.slice(..bytes.len() - 7).into(),
                PutMode::Overwrite,
            )
            .await
            .expect("truncate the index");
    });
    let (code, report) = fsck_json(&site, "damaged", &[]);
    assert_eq!(code, 1, "{report}");
    let problems = report["problems"].to_string();
    assert!(
        problems.contains(&format!(
            "{removed}: objects/pack/{removed}.pack is missing"
        )),
        "{problems}"
    );
    assert!(
        problems.contains(&format!("{truncated}: objects/pack/{truncated}.idx")),
        "{problems}"
    );
    assert!(
        problems.contains("checksum mismatch") || problems.contains("too short"),
        "{problems}"
    );
    assert!(
        problems.contains("the history the refs reach is incomplete")
            || problems.contains("which is missing"),
        "{problems}"
    );
    let orphans = report["orphans"].as_array().expect("orphans");
    assert_eq!(orphans.len(), 1, "{report}");
    assert_eq!(orphans[0]["pack"], orphan.to_string());
    let (stdout, stderr) = site.fails(&["fsck", "damaged"], 1);
    assert!(stdout.contains("damaged: 3 problems"), "{stdout}");
    assert!(stdout.contains(&format!("  orphan: {orphan}")), "{stdout}");
    assert!(
        stderr.contains("fsck found problems in 1 of 1 repositories"),
        "{stderr}"
    );
    // No name and no --all: a usage error.
    site.fails(&["fsck"], 2);

    // An export that fails part way (a pack is gone) leaves its target as it found it.
    let absent = git.path("export-absent.git");
    let empty = git.path("export-empty.git");
    std::fs::create_dir(&empty).expect("an empty directory");
    for (target, existed) in [(&absent, false), (&empty, true)] {
        let target_arg = target.to_str().expect("utf-8");
        let (_, stderr) = site.fails(&["export", "damaged", target_arg], 1);
        assert!(stderr.contains(removed.as_str()), "{stderr}");
        match existed {
            false => assert!(!target.exists(), "{target_arg} was left behind"),
            true => assert_eq!(
                std::fs::read_dir(target).expect("still there").count(),
                0,
                "{target_arg} was left with a partial export"
            ),
        }
    }
}

/// The state a lost race leaves: the refs name a commit whose objects only a stored pack holds
/// that the state does not name. Two uncoordinated daemons can no longer make it (the writer
/// lease refuses the second), so the library makes it: a pack stored, then a commit that moves
/// the ref without adding the pack.
fn lose_a_race(site: &Site, git: &Git, source: &Path, name: &str) -> String {
    let old = git.rev(source, "HEAD");
    let new = git.commit(source, "lost", "lost\n", "lost race");
    store_pack(site, git, source, name, &format!("{new}\n^{old}\n"));
    let storage = site.storage();
    site.runtime.block_on(async {
        let options = RepositoryOptions::default();
        let repo = Repository::open_with(
            storage,
            &RepoName::new(name).expect("a name"),
            options.clone(),
        )
        .await
        .expect("open");
        let id = |hex: &str| ObjectId::from_hex(hex.as_bytes()).expect("an id");
        let update = RefUpdate::update(
            RefName::branch("master").expect("a branch"),
            id(&old),
            id(&new),
        );
        repo.commit(RefTransaction::new().with_update(update))
            .await
            .expect("commit");
        repo.published().await;
        // Gives the writer lease back, as a daemon does when it stops.
        options.coordinator.shutdown().await;
    });
    new
}

fn repair_heals_a_lost_race(site: &Site) {
    let git = Git::new();
    let source = git.work_repo("work");
    let name = site.name("raced");
    site.ok(&["import", source.to_str().expect("utf-8"), &name]);
    let new = lose_a_race(site, &git, &source, &name);

    let daemon = site.daemon();
    let failed = git.fails(
        git.work.path(),
        &["clone", "-q", &daemon.url(&name), "broken"],
    );
    assert!(!failed.is_empty());
    drop(daemon);
    let (code, report) = fsck_json(site, &name, &[]);
    assert_eq!(code, 1, "{report}");
    assert!(report["problems"].to_string().contains(&new), "{report}");
    assert_eq!(report["orphans"].as_array().expect("orphans").len(), 1);

    let repaired = site.ok(&["fsck", "--repair", &name]);
    assert!(
        repaired.contains("repaired: re-adopted pack-"),
        "{repaired}"
    );
    assert!(repaired.contains(&format!("{name}: OK")), "{repaired}");
    let daemon = site.daemon();
    git.ok(
        git.work.path(),
        &["clone", "-q", &daemon.url(&name), "healed"],
    );
    assert_eq!(git.rev(&git.path("healed"), "HEAD"), new);
    drop(daemon);
    site.ok(&["delete", "--yes", &name]);
}

#[test]
fn fsck_repair_readopts_the_pack_a_lost_race_dropped() {
    repair_heals_a_lost_race(&Site::local());
}

#[test]
fn fsck_repair_readopts_the_pack_a_lost_race_dropped_on_swift() {
    if let Some(site) = Site::swift("repair_heals_a_lost_race") {
        repair_heals_a_lost_race(&site);
    }
}

fn delete_leaves_nothing(site: &Site) {
    let git = Git::new();
    let source = git.work_repo("work");
    let name = site.name("doomed");
    site.ok(&["import", source.to_str().expect("utf-8"), &name]);
    let (_, stderr) = site.fails(&["delete", &name], 1);
    assert!(stderr.contains("pass --yes"), "{stderr}");
    let printed = site.ok(&["delete", "--yes", &name]);
    assert!(
        printed.starts_with(&format!("deleted repository '{name}' (")),
        "{printed}"
    );
    let storage = site.storage();
    site.runtime.block_on(async {
        assert!(!storage.container_exists(&name).await.expect("ask"));
        assert!(
            !storage
                .list_containers()
                .await
                .expect("list")
                .contains(&name)
        );
    });
    let (_, stderr) = site.fails(&["delete", "--yes", &name], 1);
    assert!(stderr.contains("does not exist"), "{stderr}");
    // The name can be used again.
    site.ok(&["init", &name]);
    site.ok(&["delete", "--yes", &name]);
}

#[test]
fn delete_leaves_no_object_behind() {
    delete_leaves_nothing(&Site::local());
}

#[test]
fn delete_leaves_no_object_behind_on_swift() {
    if let Some(site) = Site::swift("delete_leaves_nothing") {
        delete_leaves_nothing(&site);
    }
}

#[test]
fn delete_with_etcd_removes_the_registration() {
    let Some(site) = Site::local_with_etcd("delete_with_etcd_removes_the_registration") else {
        return;
    };
    let git = Git::new();
    let source = git.work_repo("work");
    site.ok(&["init", "registered"]);
    site.ok(&["import", source.to_str().expect("utf-8"), "registered"]);
    assert!(
        site.ok(&["fsck", "registered"])
            .starts_with("registered: OK")
    );
    site.ok(&["delete", "--yes", "registered"]);
    // A registration left in etcd would make init refuse the name.
    site.ok(&["init", "registered"]);
    let (_, stderr) = site.fails(&["import", source.to_str().expect("utf-8"), "x/y"], 1);
    assert!(stderr.contains("invalid repository name"), "{stderr}");
    site.ok(&["delete", "--yes", "registered"]);
}

#[test]
fn delete_refuses_while_a_daemon_holds_the_writer_lease() {
    let site = Site::local();
    let git = Git::new();
    let source = git.work_repo("work");
    site.ok(&["init", "busy"]);
    let daemon = site.daemon();
    git.ok(&source, &["push", "-q", &daemon.url("busy"), "master"]);
    let (_, stderr) = site.fails(&["delete", "--yes", "busy"], 1);
    assert!(stderr.contains("may have pushes in flight"), "{stderr}");
    drop(daemon);
    // A killed daemon's lease is taken over (same host, process gone).
    site.ok(&["delete", "--yes", "busy"]);
}

#[test]
fn list_shows_refs_packs_size_and_last_push() {
    let site = Site::local();
    let git = Git::new();
    let source = source_repository(&git);
    site.ok(&["import", source.to_str().expect("utf-8"), "full"]);
    site.ok(&["init", "empty"]);
    let listed: serde_json::Value =
        serde_json::from_str(&site.ok(&["list", "--json"])).expect("JSON");
    let listed = listed.as_array().expect("an array");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["name"], "empty");
    assert_eq!(listed[0]["refs"], 0);
    assert_eq!(listed[0]["last_push"], serde_json::Value::Null);
    assert_eq!(listed[1]["name"], "full");
    assert_eq!(listed[1]["refs"], 45);
    assert_eq!(listed[1]["packs"], 1);
    assert!(listed[1]["size_bytes"].as_u64().expect("a size") > 1000);
    assert!(
        listed[1]["last_push"]
            .as_str()
            .expect("a time")
            .ends_with('Z')
    );
    let table = site.ok(&["list"]);
    assert!(table.starts_with("NAME   REFS  PACKS"), "{table}");
    assert!(table.contains("\nfull     45      1"), "{table}");
}

#[test]
fn user_list_and_remove() {
    let site = Site::local();
    let users = site.data.path().join("users");
    let users = users.to_str().expect("utf-8");
    for name in ["bob", "alice"] {
        let mut add = site.command(&["user", "add", name, "--users-file", users]);
        add.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = add.spawn().expect("start");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), b"secret\n")
            .expect("write");
        assert!(child.wait_with_output().expect("wait").status.success());
    }
    assert_eq!(
        site.ok(&["user", "list", "--users-file", users]),
        "alice\nbob\n"
    );
    site.ok(&["user", "remove", "bob", "--users-file", users]);
    assert_eq!(site.ok(&["user", "list", "--users-file", users]), "alice\n");
    let (_, stderr) = site.fails(&["user", "remove", "bob", "--users-file", users], 1);
    assert!(stderr.contains("no user \"bob\""), "{stderr}");
}
