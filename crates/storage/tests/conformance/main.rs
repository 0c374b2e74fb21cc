//! The storage conformance suite: the same cases run against every backend — memory, local
//! directory (also behind the `Counting` wrapper), memory behind the disk cache (caching every
//! object), and a real Swift when `SWIFTGIT_TEST_CONFIG` names its config file (when it is set
//! and Swift is unreachable the Swift cases FAIL; when unset they print that they were
//! skipped). Each case gets a fresh container and removes it at the end.

mod backends;
mod cases;

use backends::Backend;

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                crate::backends::run(crate::Backend::Memory, stringify!($case), crate::cases::$case).await
            })*
        }
        mod local {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                crate::backends::run(crate::Backend::Local, stringify!($case), crate::cases::$case).await
            })*
        }
        mod counting_local {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                crate::backends::run(crate::Backend::CountingLocal, stringify!($case), crate::cases::$case).await
            })*
        }
        mod disk_cached_memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                crate::backends::run(crate::Backend::DiskCachedMemory, stringify!($case), crate::cases::$case).await
            })*
        }
        mod swift {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                crate::backends::run(crate::Backend::Swift, stringify!($case), crate::cases::$case).await
            })*
        }
    };
}

conformance!(
    put_get_head_delete,
    overwrite_replaces,
    ranges,
    create_refuses_an_existing_name,
    create_race_has_one_winner,
    missing_objects_and_containers,
    odd_names_round_trip,
    empty_object,
    listing_is_sorted_and_paged,
    large_object_round_trip,
    file_payload_round_trip,
    containers,
    delete_many,
);
