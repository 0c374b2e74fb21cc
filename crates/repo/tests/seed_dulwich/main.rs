//! Repositories laid out by dulwich's Swift backend open as they are and are adopted into the
//! log by their first commit. The layout comes from `tests/fixtures/make-dulwich-layout.sh`,
//! which builds it with real git; it is uploaded through the `Storage` trait. The cases run
//! against memory, a local directory and (with `SWIFTGIT_TEST_CONFIG`) a real Swift.

#[path = "../common/mod.rs"]
mod common;

mod cases;

crate::cases_on_every_backend!(cases: opens_as_is, first_commit_adopts_it, empty_dulwich_init_opens);
