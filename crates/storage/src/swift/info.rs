//! The cluster's limits from `GET /info` (Swift's capabilities document): the largest single
//! object, name lengths, the listing page cap, the static large object limits and whether the
//! bulk middleware deletes many objects per request.

use reqwest::Url;
use serde::Deserialize;

use super::names::NameLimits;

/// What the cluster allows; Swift's defaults when `/info` is disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterInfo {
    /// Largest object a single PUT may store (`swift.max_file_size`).
    pub max_file_size: u64,
    pub names: NameLimits,
    /// Most names one listing page returns (`swift.container_listing_limit`).
    pub listing_limit: usize,
    /// `None` when the cluster does not offer static large objects.
    pub slo: Option<SloLimits>,
    /// `None` when the cluster does not offer bulk deletes: no `bulk_delete` in `/info`, or
    /// `/info` hidden (a proxy without `bulk` in its pipeline would take the POST for an update
    /// of the account's metadata and delete nothing).
    pub bulk_delete: Option<BulkDeleteLimits>,
}

/// The bulk middleware's limits on `POST ?bulk-delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BulkDeleteLimits {
    /// Most names one request may carry (10 000 by default).
    pub max_deletes_per_request: usize,
    /// Failed names after which Swift stops working through a request (1000 by default).
    pub max_failed_deletes: usize,
}

impl Default for BulkDeleteLimits {
    fn default() -> Self {
        BulkDeleteLimits {
            max_deletes_per_request: 10_000,
            max_failed_deletes: 1000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SloLimits {
    pub max_manifest_segments: usize,
    /// Smallest segment but the last (older Swift releases; 1 byte on newer ones).
    pub min_segment_size: u64,
}

impl Default for ClusterInfo {
    fn default() -> Self {
        ClusterInfo {
            max_file_size: 5 * 1024 * 1024 * 1024 + 2,
            names: NameLimits::default(),
            listing_limit: 10_000,
            slo: Some(SloLimits {
                max_manifest_segments: 1000,
                min_segment_size: 1,
            }),
            bulk_delete: None,
        }
    }
}

#[derive(Deserialize)]
struct InfoDocument {
    swift: Option<SwiftSection>,
    slo: Option<SloSection>,
    bulk_delete: Option<BulkDeleteSection>,
}

#[derive(Deserialize)]
struct SwiftSection {
    max_file_size: Option<u64>,
    max_object_name_length: Option<usize>,
    max_container_name_length: Option<usize>,
    container_listing_limit: Option<usize>,
}

#[derive(Deserialize)]
struct SloSection {
    max_manifest_segments: Option<usize>,
    min_segment_size: Option<u64>,
}

#[derive(Deserialize)]
struct BulkDeleteSection {
    max_deletes_per_request: Option<usize>,
    max_failed_deletes: Option<usize>,
}

impl ClusterInfo {
    /// Parses `/info`; a missing field keeps Swift's default.
    pub(crate) fn parse(body: &[u8]) -> Result<ClusterInfo, serde_json::Error> {
        let document: InfoDocument = serde_json::from_slice(body)?;
        let defaults = ClusterInfo::default();
        let default_slo = defaults.slo.expect("holds because the default offers SLO");
        let swift = document.swift.unwrap_or(SwiftSection {
            max_file_size: None,
            max_object_name_length: None,
            max_container_name_length: None,
            container_listing_limit: None,
        });
        Ok(ClusterInfo {
            max_file_size: swift.max_file_size.unwrap_or(defaults.max_file_size),
            names: NameLimits {
                max_container_name_length: swift
                    .max_container_name_length
                    .unwrap_or(defaults.names.max_container_name_length),
                max_object_name_length: swift
                    .max_object_name_length
                    .unwrap_or(defaults.names.max_object_name_length),
            },
            listing_limit: swift
                .container_listing_limit
                .filter(|n| *n > 0)
                .unwrap_or(defaults.listing_limit),
            slo: document.slo.map(|slo| SloLimits {
                max_manifest_segments: slo
                    .max_manifest_segments
                    .filter(|n| *n > 0)
                    .unwrap_or(default_slo.max_manifest_segments),
                min_segment_size: slo
                    .min_segment_size
                    .unwrap_or(default_slo.min_segment_size)
                    .max(1),
            }),
            bulk_delete: document.bulk_delete.map(|bulk| {
                let defaults = BulkDeleteLimits::default();
                BulkDeleteLimits {
                    max_deletes_per_request: bulk
                        .max_deletes_per_request
                        .filter(|n| *n > 0)
                        .unwrap_or(defaults.max_deletes_per_request),
                    max_failed_deletes: bulk
                        .max_failed_deletes
                        .filter(|n| *n > 0)
                        .unwrap_or(defaults.max_failed_deletes),
                }
            }),
        })
    }
}

/// Where `/info` lives: beside the API version of the storage URL
/// (`https://host/v1/AUTH_x` → `https://host/info`; `https://host/swift/v1/AUTH_x` →
/// `https://host/swift/info`).
pub(crate) fn info_url(storage_url: &Url) -> Url {
    let mut url = storage_url.clone();
    let path = storage_url.path();
    let prefix = match path
        .find("/v1/")
        .or_else(|| path.strip_suffix("/v1").map(str::len))
    {
        Some(at) => &path[..at],
        None => "",
    };
    url.set_path(&format!("{prefix}/info"));
    url.set_query(None);
    url.set_fragment(None);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_url_sits_beside_the_api_version() {
        let url = |s: &str| info_url(&Url::parse(s).expect("valid")).to_string();
        assert_eq!(url("http://h:8080/v1/AUTH_test"), "http://h:8080/info");
        assert_eq!(url("https://h/swift/v1/AUTH_t?x=1"), "https://h/swift/info");
        assert_eq!(url("http://h/other/AUTH_t"), "http://h/info");
    }

    #[test]
    fn info_document_overrides_defaults() {
        let info = ClusterInfo::parse(
            br#"{"swift": {"max_file_size": 1000, "container_listing_limit": 50},
                 "slo": {"max_manifest_segments": 7}}"#,
        )
        .expect("valid");
        assert_eq!(info.max_file_size, 1000);
        assert_eq!(info.listing_limit, 50);
        assert_eq!(info.names, NameLimits::default());
        assert_eq!(
            info.slo,
            Some(SloLimits {
                max_manifest_segments: 7,
                min_segment_size: 1
            })
        );
        let no_slo = ClusterInfo::parse(br#"{"swift": {}}"#).expect("valid");
        assert_eq!(no_slo.slo, None);
    }

    #[test]
    fn bulk_delete_is_offered_only_when_info_says_so() {
        // As Swift 2.38 with `bulk` in its pipeline answers (abridged).
        let info = ClusterInfo::parse(
            br#"{"swift": {"max_file_size": 8388608},
                 "bulk_upload": {"max_containers_per_extraction": 10000, "max_failed_extractions": 1000},
                 "bulk_delete": {"max_deletes_per_request": 500, "max_failed_deletes": 20}}"#,
        )
        .expect("valid");
        assert_eq!(
            info.bulk_delete,
            Some(BulkDeleteLimits {
                max_deletes_per_request: 500,
                max_failed_deletes: 20
            })
        );
        let defaults = ClusterInfo::parse(br#"{"bulk_delete": {"max_deletes_per_request": 0}}"#)
            .expect("valid");
        assert_eq!(defaults.bulk_delete, Some(BulkDeleteLimits::default()));
        let without = ClusterInfo::parse(br#"{"swift": {}, "slo": {}}"#).expect("valid");
        assert_eq!(without.bulk_delete, None);
        assert_eq!(ClusterInfo::default().bulk_delete, None, "/info hidden");
    }
}
