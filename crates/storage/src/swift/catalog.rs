//! The Keystone service catalog (v2.0 and v3): finding the storage URL of the `object-store`
//! service in the configured region with the configured endpoint interface. Plain functions over
//! the parsed document; errors list what the catalog does offer.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use swiftgit_config::EndpointInterface;

use super::auth::Who;
use crate::{ErrorKind, Result, StorageError};

#[derive(Deserialize)]
pub(crate) struct V2Service {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    endpoints: Vec<BTreeMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
pub(crate) struct V3Service {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    endpoints: Vec<V3Endpoint>,
}

#[derive(Deserialize)]
pub(crate) struct V3Endpoint {
    #[serde(default)]
    interface: String,
    #[serde(default)]
    region_id: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    url: String,
}

const OBJECT_STORE: &str = "object-store";

/// The storage URL from a Keystone v2.0 catalog.
pub(crate) fn select_v2(
    catalog: &[V2Service],
    region: &str,
    interface: EndpointInterface,
    who: &Who,
) -> Result<String> {
    let endpoints: Vec<_> = object_stores(catalog.iter().map(|s| (&s.kind, &s.endpoints)), who)?;
    let field = interface.v2_field();
    let in_region: Vec<_> = endpoints
        .iter()
        .filter(|e| e.get("region").and_then(|r| r.as_str()) == Some(region))
        .collect();
    if in_region.is_empty() {
        let regions = endpoints
            .iter()
            .filter_map(|e| e.get("region").and_then(|r| r.as_str()))
            .collect();
        return Err(no_region(region, regions, who));
    }
    in_region
        .iter()
        .find_map(|e| {
            e.get(field)
                .and_then(|u| u.as_str())
                .filter(|u| !u.is_empty())
        })
        .map(str::to_string)
        .ok_or_else(|| {
            let present = in_region
                .iter()
                .flat_map(|e| e.keys())
                .filter(|k| k.ends_with("URL"))
                .map(String::as_str)
                .collect();
            no_interface(region, field, present, who)
        })
}

/// The storage URL from a Keystone v3 catalog.
pub(crate) fn select_v3(
    catalog: &[V3Service],
    region: &str,
    interface: EndpointInterface,
    who: &Who,
) -> Result<String> {
    let endpoints = object_stores(catalog.iter().map(|s| (&s.kind, &s.endpoints)), who)?;
    let region_of = |e: &V3Endpoint| e.region_id.clone().or_else(|| e.region.clone());
    let in_region: Vec<_> = endpoints
        .iter()
        .filter(|e| e.region_id.as_deref() == Some(region) || e.region.as_deref() == Some(region))
        .collect();
    if in_region.is_empty() {
        let regions: Vec<String> = endpoints.iter().filter_map(|e| region_of(e)).collect();
        return Err(no_region(
            region,
            regions.iter().map(String::as_str).collect(),
            who,
        ));
    }
    let wanted = interface.v3_interface();
    in_region
        .iter()
        .find(|e| e.interface == wanted && !e.url.is_empty())
        .map(|e| e.url.clone())
        .ok_or_else(|| {
            let present = in_region.iter().map(|e| e.interface.as_str()).collect();
            no_interface(region, wanted, present, who)
        })
}

/// The endpoints of every `object-store` service; an error listing the service types if none.
fn object_stores<'a, E: 'a>(
    services: impl Iterator<Item = (&'a String, &'a Vec<E>)>,
    who: &Who,
) -> Result<Vec<&'a E>> {
    let mut types = BTreeSet::new();
    let mut endpoints = Vec::new();
    for (kind, list) in services {
        types.insert(kind.as_str());
        if kind == OBJECT_STORE {
            endpoints.extend(list.iter());
        }
    }
    if endpoints.is_empty() {
        let listed = if types.is_empty() {
            "the catalog is empty".to_string()
        } else {
            format!("its services: {}", Vec::from_iter(types).join(", "))
        };
        return Err(StorageError::new(
            ErrorKind::Invalid,
            format!(
                "the catalog of user {} at {} has no object-store endpoint ({listed}): is Swift \
                 registered in Keystone, and does the user have a role in the project?",
                who.user, who.auth_url
            ),
        ));
    }
    Ok(endpoints)
}

fn no_region(region: &str, regions: BTreeSet<&str>, who: &Who) -> StorageError {
    StorageError::new(
        ErrorKind::Invalid,
        format!(
            "the catalog of user {} at {} has no object-store endpoint in region {region:?}; \
             regions with one: {}: set region_name in the config to one of them",
            who.user,
            who.auth_url,
            Vec::from_iter(regions).join(", ")
        ),
    )
}

fn no_interface(region: &str, wanted: &str, present: BTreeSet<&str>, who: &Who) -> StorageError {
    StorageError::new(
        ErrorKind::Invalid,
        format!(
            "the catalog of user {} at {} has no {wanted} object-store endpoint in region \
             {region:?} (it has: {}): set endpoint_type in the config to one of them",
            who.user,
            who.auth_url,
            Vec::from_iter(present).join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn who() -> Who {
        Who {
            user: "tester (tenant test)".into(),
            auth_url: "http://keystone:5000/v2.0".into(),
        }
    }

    #[test]
    fn v2_catalog_picks_region_and_field() {
        let catalog: Vec<V2Service> = serde_json::from_value(json!([
            {"type": "identity", "endpoints": [{"region": "RegionOne", "publicURL": "http://k"}]},
            {"type": "object-store", "endpoints": [
                {"region": "RegionTwo", "publicURL": "http://two/v1/AUTH_t"},
                {"region": "RegionOne", "publicURL": "http://pub/v1/AUTH_t",
                 "internalURL": "http://int/v1/AUTH_t"},
            ]},
        ]))
        .expect("holds because the literal is valid");
        let url = select_v2(&catalog, "RegionOne", EndpointInterface::Internal, &who());
        assert_eq!(url.expect("found"), "http://int/v1/AUTH_t");
        let err = select_v2(&catalog, "RegionTwo", EndpointInterface::Admin, &who())
            .expect_err("no adminURL");
        assert!(err.message().contains("no adminURL"), "{err}");
        assert!(err.message().contains("publicURL"), "{err}");
        let err =
            select_v2(&catalog, "Mars", EndpointInterface::Public, &who()).expect_err("no region");
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert!(err.message().contains("\"Mars\""), "{err}");
        assert!(err.message().contains("RegionOne, RegionTwo"), "{err}");
    }

    #[test]
    fn v3_catalog_matches_region_id_or_region() {
        let catalog: Vec<V3Service> = serde_json::from_value(json!([
            {"type": "object-store", "endpoints": [
                {"interface": "public", "region_id": "RegionOne", "url": "http://pub"},
                {"interface": "internal", "region": "RegionOne", "url": "http://int"},
            ]},
        ]))
        .expect("holds because the literal is valid");
        let url = select_v3(&catalog, "RegionOne", EndpointInterface::Internal, &who());
        assert_eq!(url.expect("found"), "http://int");
        let err = select_v3(&catalog, "RegionTwo", EndpointInterface::Public, &who())
            .expect_err("no region");
        assert!(err.message().contains("\"RegionTwo\""), "{err}");
        assert!(
            err.message().contains("regions with one: RegionOne"),
            "{err}"
        );
    }

    #[test]
    fn catalog_without_object_store_lists_services() {
        let catalog: Vec<V3Service> =
            serde_json::from_value(json!([{"type": "identity", "endpoints": []}]))
                .expect("holds because the literal is valid");
        let err = select_v3(&catalog, "RegionOne", EndpointInterface::Public, &who())
            .expect_err("no object-store");
        assert!(err.message().contains("its services: identity"), "{err}");
    }
}
