//! The repository state log: transactions, request counts, concurrent writers, crashes.
//!
//! The cases are functions over `Arc<dyn Storage>` and run against memory, a local directory
//! and, when `SWIFTGIT_TEST_CONFIG` names a config file, a real Swift (otherwise the Swift
//! variants print that they were skipped). The crash test and the two-process test re-run this
//! binary as child processes (`#[ignore]`d tests that only do something when their environment
//! variables are set).

#[path = "../common/mod.rs"]
mod common;

mod concurrency;
mod crash;
mod lifecycle;
mod requests;
mod swift_processes;
mod transactions;

mod lifecycle_on {
    crate::cases_on_every_backend!(lifecycle:
        init_then_open,
        init_refuses_bad_branches_and_used_containers,
        checkpoints_and_hint,
        unreadable_entries_are_reported,
    );
}

mod transactions_on {
    crate::cases_on_every_backend!(transactions:
        create_update_delete,
        transactions_are_all_or_nothing,
        head_changes,
        packs_must_be_stored_and_live,
        second_handle_sees_commits_after_refresh,
    );
}

mod requests_on {
    crate::cases_on_every_backend!(requests:
        open_after_ten_thousand_transactions,
        refresh_costs_one_request_when_unchanged,
    );
}

mod concurrency_on {
    crate::cases_on_every_backend!(concurrency: eight_writers_lose_nothing);
}
