//! Checks of `[store]`'s shared-store keys: `url`, `instance` and `lease_ttl`.

use std::time::Duration;

use super::raw::RawStore;
use super::validate::Checker;

/// `[store] url`, `instance` and `lease_ttl`; the lease lifetime when it is valid.
pub(super) fn check_shared_store(c: &mut Checker, store: &RawStore) -> Option<Duration> {
    let ttl = match humantime::parse_duration(&store.lease_ttl) {
        Ok(d) if (Duration::from_secs(3)..=Duration::from_secs(300)).contains(&d) => Some(d),
        Ok(_) => {
            c.error("store.lease_ttl", "must be between 3s and 300s");
            None
        }
        Err(e) => {
            c.error(
                "store.lease_ttl",
                format!("not a duration like \"10s\": {e}"),
            );
            None
        }
    };
    if let Some(url) = &store.url {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            c.error(
                "store.url",
                "must be a PostgreSQL URL: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
            );
        } else {
            let host = url
                .split_once("://")
                .map(|(_, r)| r.rsplit_once('@').map_or(r, |(_, h)| h))
                .unwrap_or("");
            let local = ["127.0.0.1", "localhost", "[::1]", "/"]
                .iter()
                .any(|l| host.starts_with(l));
            if !local {
                c.warn(
                    "store.url",
                    "the connection to a non-local PostgreSQL is not encrypted (Ferry connects without TLS); keep it on a private network",
                );
            }
        }
        if !store.enabled {
            c.error("store.url", "set, but [store] enabled = false");
        }
    }
    if let Some(name) = &store.instance {
        if name.trim().is_empty() || name.len() > 100 {
            c.error("store.instance", "must be 1 to 100 characters");
        }
    }
    ttl
}
