//! `ferry status`: who relays what. With a shared store (`[store] url`), the lanes' leases (owner,
//! epoch, time left) and the instances seen; with the embedded store, that one instance relays
//! every lane.

use anyhow::Result;
use serde::Serialize;

use super::Ctx;
use crate::lease::{lane_name, InstanceRow, LeaseRow, Leases};

#[derive(Serialize)]
struct Status {
    /// True when lanes are leased through a shared PostgreSQL store.
    shared: bool,
    /// The store (its URL without password, or the embedded file).
    store: String,
    lease_ttl_secs: f64,
    instances: Vec<InstanceRow>,
    lanes: Vec<LeaseRow>,
}

pub fn run(ctx: &Ctx) -> Result<()> {
    let cfg = ctx.load_config()?;
    let configured: Vec<String> = cfg
        .paths
        .iter()
        .flat_map(|p| {
            [
                lane_name(&p.name, p.a.chain.as_str()),
                lane_name(&p.name, p.b.chain.as_str()),
            ]
        })
        .collect();
    let status = match &cfg.store.url {
        Some(url) => {
            let store = crate::store::PgStore::open(url)?;
            let (mut lanes, instances) = store.snapshot(cfg.store.lease_ttl)?;
            // Lanes of this config no instance has registered yet are shown as free.
            for lane in &configured {
                if !lanes.iter().any(|l| &l.lane == lane) {
                    lanes.push(LeaseRow {
                        lane: lane.clone(),
                        owner: None,
                        epoch: 0,
                        expires_in_ms: None,
                    });
                }
            }
            lanes.sort_by(|a, b| a.lane.cmp(&b.lane));
            Status {
                shared: true,
                store: store.shown().to_string(),
                lease_ttl_secs: cfg.store.lease_ttl.as_secs_f64(),
                instances,
                lanes,
            }
        }
        None => Status {
            shared: false,
            store: if cfg.store.enabled {
                ctx.home.join(&cfg.store.path).display().to_string()
            } else {
                "memory ([store] enabled = false)".into()
            },
            lease_ttl_secs: 0.0,
            instances: Vec::new(),
            lanes: configured
                .iter()
                .map(|l| LeaseRow {
                    lane: l.clone(),
                    owner: None,
                    epoch: 0,
                    expires_in_ms: None,
                })
                .collect(),
        },
    };
    ctx.emit(&status, || human(&status));
    Ok(())
}

fn human(s: &Status) -> String {
    let mut out = Vec::new();
    if !s.shared {
        out.push(format!(
            "store {} (not shared): `ferry start` relays every lane itself; set [store] url to share lanes among instances",
            s.store
        ));
        out.push("lanes:".into());
        for l in &s.lanes {
            out.push(format!("  {}", l.lane));
        }
        return out.join("\n");
    }
    out.push(format!(
        "store {} (shared), lease ttl {}s",
        s.store, s.lease_ttl_secs
    ));
    out.push("instances:".into());
    if s.instances.is_empty() {
        out.push("  none seen yet".into());
    }
    for i in &s.instances {
        out.push(format!(
            "  {:<32} {} (seen {:.1}s ago)",
            i.id,
            if i.live { "live" } else { "gone" },
            i.seen_ms_ago as f64 / 1000.0
        ));
    }
    out.push("lanes:".into());
    for l in &s.lanes {
        let who = match (&l.owner, l.expires_in_ms) {
            (Some(o), Some(ms)) if ms > 0 => format!(
                "owner {o} (epoch {}, {:.1}s left)",
                l.epoch,
                ms as f64 / 1000.0
            ),
            (Some(o), _) => format!("expired (last owner {o}, epoch {}): free", l.epoch),
            (None, _) => "free".into(),
        };
        out.push(format!("  {:<48} {who}", l.lane));
    }
    out.join("\n")
}
