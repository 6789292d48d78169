//! Real CometBFT 0.38 data: RPC answers recorded from the devnet's `l3-appchain-1` (ibc-go v8.8.0
//! simd, one validator) by `testdata/record-simd.sh`, kept in `testdata/simd-v8/`.
//!
//! - trusted: block 1's header, with the validator set at height 1 as its next validator set;
//! - header 10 with its commit (`commit_at_height_10`) verifies by skipping from 1;
//! - header 9 (`blockchain_from_1_to_10`) with the commit block 10 carries for it
//!   (`block_at_height_10` last_commit) verifies too, and then header 10 adjacently from 9.

use std::{fs, path::Path, time::Duration};

use ferry_light_client_tendermint::{
    verify, LightBlock, SignedHeader, TrustThreshold, TrustedState, ValidatorSet, VerificationError, VerifyOptions,
};
use tendermint::block::CommitSig;
use tendermint_rpc::{endpoint, Response};

fn fixture(name: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/simd-v8");
    fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

struct Fixtures {
    genesis_set: ValidatorSet,
    block_1: tendermint::block::Header,
    header_9: tendermint::block::Header,
    block_10: tendermint::Block,
    commit_10: SignedHeader,
}

fn fixtures() -> Fixtures {
    let validators = endpoint::validators::Response::from_string(fixture("validators_at_height_1.json")).unwrap();
    let block_1: endpoint::block::Response =
        endpoint::block::v0_38::DialectResponse::from_string(fixture("block_at_height_1.json")).unwrap().into();
    let block_10: endpoint::block::Response =
        endpoint::block::v0_38::DialectResponse::from_string(fixture("block_at_height_10.json")).unwrap().into();
    let chain = endpoint::blockchain::Response::from_string(fixture("blockchain_from_1_to_10.json")).unwrap();
    let header_9 = chain.block_metas.iter().find(|m| m.header.height.value() == 9).unwrap().header.clone();
    let commit = endpoint::commit::Response::from_string(fixture("commit_at_height_10.json")).unwrap();
    Fixtures {
        genesis_set: ValidatorSet::without_proposer(validators.validators),
        block_1: block_1.block.header,
        header_9,
        block_10: block_10.block,
        commit_10: commit.signed_header,
    }
}

fn options() -> VerifyOptions {
    VerifyOptions {
        trust_threshold: TrustThreshold::ONE_THIRD,
        trusting_period: Duration::from_secs(14 * 24 * 3600),
        clock_drift: Duration::from_secs(10),
    }
}

fn trusted(f: &Fixtures) -> TrustedState {
    let h = &f.block_1;
    assert_eq!(h.next_validators_hash, f.genesis_set.hash(), "the set at height 1 is block 1's next set");
    TrustedState {
        chain_id: h.chain_id.clone(),
        height: h.height,
        time: h.time,
        next_validators: f.genesis_set.clone(),
        next_validators_hash: h.next_validators_hash,
    }
}

fn light_block(signed_header: SignedHeader, set: &ValidatorSet) -> LightBlock {
    LightBlock { signed_header, validators: set.clone(), next_validators: set.clone() }
}

#[test]
fn real_commit_at_height_10_verifies_against_the_validator_set_at_1() {
    let f = fixtures();
    let block = light_block(f.commit_10.clone(), &f.genesis_set);
    assert_eq!(block.height().value(), 10);
    let now = (block.time() + Duration::from_secs(5)).unwrap();
    let state = verify(&block, &trusted(&f), &options(), now).unwrap();
    assert_eq!(state.height.value(), 10);
    assert_eq!(state.chain_id.as_str(), "l3-appchain-1");
}

#[test]
fn real_commit_with_one_flipped_bit_names_the_validator() {
    let f = fixtures();
    let mut block = light_block(f.commit_10.clone(), &f.genesis_set);
    let CommitSig::BlockIdFlagCommit { validator_address, signature, .. } =
        &mut block.signed_header.commit.signatures[0]
    else {
        panic!("expected a commit signature")
    };
    let mut bytes = signature.as_ref().unwrap().as_bytes().to_vec();
    bytes[63] ^= 0x01;
    *signature = Some(tendermint::Signature::try_from(bytes).unwrap());
    let validator = *validator_address;
    let now = (block.time() + Duration::from_secs(5)).unwrap();
    assert_eq!(
        verify(&block, &trusted(&f), &options(), now),
        Err(VerificationError::InvalidSignature { validator, index: 0 })
    );
}

#[test]
fn real_header_9_then_adjacent_header_10() {
    let f = fixtures();
    let commit_9 = f.block_10.last_commit.clone().expect("block 10 carries the commit for 9");
    let signed_9 = SignedHeader::new(f.header_9.clone(), commit_9).unwrap();
    let block_9 = light_block(signed_9, &f.genesis_set);
    let block_10 = light_block(f.commit_10.clone(), &f.genesis_set);
    assert_eq!(block_10.signed_header.header, f.block_10.header);
    let now = (block_10.time() + Duration::from_secs(5)).unwrap();
    let state_9 = verify(&block_9, &trusted(&f), &options(), now).unwrap();
    let state_10 = verify(&block_10, &state_9, &options(), now).unwrap();
    assert_eq!(state_10.height.value(), 10);
}
