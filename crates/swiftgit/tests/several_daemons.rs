//! Several `swiftgit daemon` processes serving one repository on a real Swift, driven by real
//! `git` clients: with the etcd coordinator (`[coordinator]`) nothing acknowledged is lost and
//! `refs/heads/shared` stays linearizable while etcd members die, a daemon killed right after
//! winning leaves a complete repository, and an etcd outage fails pushes quickly and clearly;
//! without it, a second writing daemon is refused; `swiftgit gc` runs in a loop beside two
//! coordinated daemons and their clients, and a gc SIGKILLed at random moments leaves a
//! repository that serves and passes `git fsck`. Each test skips (printing so) without
//! `SWIFTGIT_TEST_CONFIG`; the coordinated ones also need etcd (a failure, not a skip, with
//! `SWIFTGIT_TEST_ETCD_REQUIRED=1`) and start private clusters of their own. The bodies are in
//! `several/`; every test here that needs etcd is named `coordinator_…` so that CI can count
//! them.

mod common;
mod several;

#[test]
fn coordinator_three_daemons_lose_nothing() {
    several::lose_nothing::run();
}

#[test]
fn coordinator_absent_second_writer_refused() {
    several::second_writer::run();
}

#[test]
fn coordinator_sigkill_after_winning_leaves_a_complete_repository() {
    several::faults::sigkill_after_winning();
}

#[test]
fn coordinator_etcd_outage() {
    several::faults::etcd_outage();
}

#[test]
fn coordinator_gc_loop_two_daemons() {
    several::maintenance::gc_loop_two_daemons();
}

#[test]
fn gc_sigkill_rounds() {
    several::maintenance::sigkill_rounds();
}
