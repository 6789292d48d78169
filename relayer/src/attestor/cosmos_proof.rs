//! ICS-23 proofs of the `ibc` store of a Cosmos SDK chain, as `abci_query("store/ibc/key",
//! prove = true)` returns them: two proof ops, an IAVL proof of the key in the `ibc` store (its
//! existence with the value, or its absence between two neighbours) and a simple-merkle proof of
//! that store's root in the multistore, whose root is the app hash of the NEXT block's header.
//! Verified here with the `ics23` crate against an app hash taken from a verified header.

use ics23::{
    calculate_existence_root, commitment_proof::Proof, iavl_spec, tendermint_spec,
    verify_membership, verify_non_membership, CommitmentProof, HostFunctionsManager,
};
use prost::Message;
use tendermint::merkle::proof::ProofOps;

/// The store IBC keeps its state in.
pub const STORE: &str = "ibc";
/// `abci_query` path for a raw key of that store.
pub const QUERY_PATH: &str = "store/ibc/key";

/// Check that `ops` proves `key` holds `value` in the `ibc` store (`value` empty: that the key is
/// absent) under `app_hash`. Returns why not.
pub fn verify(
    app_hash: &[u8],
    key: &[u8],
    value: &[u8],
    ops: Option<&ProofOps>,
) -> Result<(), String> {
    let ops = ops.ok_or("the answer carries no proof")?;
    let [iavl, store] = ops.ops.as_slice() else {
        return Err(format!(
            "expected 2 proof ops (iavl, simple merkle), got {}",
            ops.ops.len()
        ));
    };
    if iavl.field_type != "ics23:iavl" || store.field_type != "ics23:simple" {
        return Err(format!(
            "proof ops are `{}`, `{}`; expected `ics23:iavl`, `ics23:simple`",
            iavl.field_type, store.field_type
        ));
    }
    if iavl.key != key {
        return Err("the iavl proof op is for another key".into());
    }
    if store.key != STORE.as_bytes() {
        return Err(format!(
            "the store proof op is for store `{}`, not `{STORE}`",
            String::from_utf8_lossy(&store.key)
        ));
    }
    let decode = |what: &str, data: &[u8]| {
        CommitmentProof::decode(data)
            .map_err(|e| format!("the {what} proof is not an ICS-23 proof: {e}"))
    };
    let inner = decode("iavl", &iavl.data)?;
    let outer = decode("store", &store.data)?;

    // The `ibc` store's root, as the inner proof computes it.
    let store_root = match &inner.proof {
        Some(Proof::Exist(e)) if !value.is_empty() => {
            calculate_existence_root::<HostFunctionsManager>(e)
        }
        Some(Proof::Nonexist(n)) if value.is_empty() => {
            match n.left.as_ref().or(n.right.as_ref()) {
                Some(e) => calculate_existence_root::<HostFunctionsManager>(e),
                None => return Err("the non-existence proof has no neighbour".into()),
            }
        }
        Some(Proof::Exist(_)) => {
            return Err("an existence proof for a key answered as absent".into())
        }
        Some(Proof::Nonexist(_)) => {
            return Err("a non-existence proof for a key answered with a value".into())
        }
        _ => return Err("the iavl proof is neither an existence nor a non-existence proof".into()),
    }
    .map_err(|e| format!("the iavl proof does not compute a root: {e}"))?;

    let ok = if value.is_empty() {
        verify_non_membership::<HostFunctionsManager>(&inner, &iavl_spec(), &store_root, key)
    } else {
        verify_membership::<HostFunctionsManager>(&inner, &iavl_spec(), &store_root, key, value)
    };
    if !ok {
        return Err(if value.is_empty() {
            "the iavl non-existence proof does not verify".into()
        } else {
            "the iavl proof does not prove this value for the key".into()
        });
    }
    if !verify_membership::<HostFunctionsManager>(
        &outer,
        &tendermint_spec(),
        &app_hash.to_vec(),
        STORE.as_bytes(),
        &store_root,
    ) {
        return Err(format!(
            "the `{STORE}` store root the iavl proof computes is not proven under the app hash {}",
            hex::encode_upper(app_hash)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use tendermint::merkle::proof::ProofOp;

    /// Real answers of an ibc-go v8 chain (see the file's `source`).
    fn fixture() -> Value {
        serde_json::from_str(include_str!("testdata/ibc_store_proofs.json")).unwrap()
    }

    fn hx(v: &Value) -> Vec<u8> {
        hex::decode(v.as_str().unwrap()).unwrap()
    }

    fn case(v: &Value) -> (Vec<u8>, Vec<u8>, ProofOps) {
        let ops = v["ops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| ProofOp {
                field_type: o["type"].as_str().unwrap().into(),
                key: hx(&o["key"]),
                data: hx(&o["data"]),
            })
            .collect();
        (hx(&v["key"]), hx(&v["value"]), ProofOps { ops })
    }

    #[test]
    fn real_existence_and_non_existence_proofs_verify() {
        let f = fixture();
        let app = hx(&f["app_hash"]);
        let (key, value, ops) = case(&f["present"]);
        assert_eq!(value.len(), 32);
        verify(&app, &key, &value, Some(&ops)).unwrap();
        let (missing, none, nops) = case(&f["absent"]);
        assert!(none.is_empty());
        verify(&app, &missing, &[], Some(&nops)).unwrap();
    }

    #[test]
    fn anything_altered_is_refused() {
        let f = fixture();
        let app = hx(&f["app_hash"]);
        let (key, value, ops) = case(&f["present"]);
        let (missing, _, nops) = case(&f["absent"]);

        // The value changed, the proof kept.
        let mut forged = value.clone();
        forged[31] ^= 1;
        let e = verify(&app, &key, &forged, Some(&ops)).unwrap_err();
        assert!(e.contains("does not prove this value"), "{e}");
        // Another app hash (another block's).
        let mut other = app.clone();
        other[0] ^= 1;
        let e = verify(&other, &key, &value, Some(&ops)).unwrap_err();
        assert!(e.contains("not proven under the app hash"), "{e}");
        // A present key answered as absent, an absent one answered with a value.
        assert!(verify(&app, &key, &[], Some(&ops))
            .unwrap_err()
            .contains("existence proof for a key answered as absent"));
        assert!(verify(&app, &missing, &value, Some(&nops))
            .unwrap_err()
            .contains("non-existence proof for a key answered with a value"));
        // Ops for another key, swapped, missing, or for another store.
        assert!(verify(&app, &missing, &[], Some(&ops))
            .unwrap_err()
            .contains("another key"));
        let mut swapped = ops.clone();
        swapped.ops.swap(0, 1);
        assert!(verify(&app, &key, &value, Some(&swapped))
            .unwrap_err()
            .contains("expected `ics23:iavl`"));
        assert!(verify(&app, &key, &value, None)
            .unwrap_err()
            .contains("no proof"));
        let mut store = ops.clone();
        store.ops[1].key = b"bank".to_vec();
        assert!(verify(&app, &key, &value, Some(&store))
            .unwrap_err()
            .contains("store `bank`"));
        let mut garbage = ops;
        garbage.ops[0].data[3] ^= 0xff;
        assert!(verify(&app, &key, &value, Some(&garbage)).is_err());
    }
}
