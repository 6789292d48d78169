//! Seeds for the fuzz target (`fuzz/seeds/verify_light_block/`): valid testgen light blocks,
//! protobuf-encoded behind the target's two control bytes. The seeds are committed; rerun with
//! `cargo test -p ferry-light-client-tendermint --test fuzz_seeds -- --ignored` to regenerate.
//! The always-on test checks that the committed seeds still decode and verify.

mod common;

use std::{fs, path::PathBuf, time::Duration};

use common::*;
use ferry_light_client_tendermint::{verify, LightBlock, SignedHeader, TrustedState, ValidatorSet};
use prost::Message;
use tendermint_proto::v0_38::types::{LightBlock as RawLightBlock, SignedHeader as RawSignedHeader};

fn seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/verify_light_block")
}

fn encode(block: &LightBlock) -> Vec<u8> {
    let raw = RawLightBlock {
        signed_header: Some(RawSignedHeader::from(block.signed_header.clone())),
        validator_set: Some(block.validators.clone().into()),
    };
    let mut out = vec![0u8, 5u8];
    out.extend(raw.encode_to_vec());
    out
}

fn decode(data: &[u8]) -> LightBlock {
    let raw = RawLightBlock::decode(&data[2..]).unwrap();
    let validators = ValidatorSet::try_from(raw.validator_set.unwrap()).unwrap();
    let signed_header = SignedHeader::try_from(raw.signed_header.unwrap()).unwrap();
    LightBlock { signed_header, next_validators: validators.clone(), validators }
}

#[test]
#[ignore = "regenerates committed files"]
fn write_fuzz_seeds() {
    fs::create_dir_all(seeds_dir()).unwrap();
    for n in [1usize, 4, 10] {
        let ids: Vec<String> = (0..n).map(|i| format!("seed-{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let vals = validators(&ids);
        let block = block("fuzz-chain", 7, 7, &vals, &vals);
        fs::write(seeds_dir().join(format!("valid-{n}-validators.bin")), encode(&block)).unwrap();
    }
}

#[test]
fn committed_seeds_verify() {
    let mut count = 0;
    for entry in fs::read_dir(seeds_dir()).unwrap() {
        let data = fs::read(entry.unwrap().path()).unwrap();
        let block = decode(&data);
        let header = &block.signed_header.header;
        let trusted = TrustedState {
            chain_id: header.chain_id.clone(),
            height: (header.height.value() - 1).try_into().unwrap(),
            time: (header.time - Duration::from_secs(1)).unwrap(),
            next_validators: block.validators.clone(),
            next_validators_hash: block.validators.hash(),
        };
        let now = (header.time + Duration::from_secs(u64::from(data[1]))).unwrap();
        verify(&block, &trusted, &options(), now).unwrap();
        count += 1;
    }
    assert!(count >= 3);
}
