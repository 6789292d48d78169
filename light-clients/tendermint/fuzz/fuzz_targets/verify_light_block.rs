//! Decode arbitrary bytes as a protobuf `tendermint.types.LightBlock` (CometBFT 0.38) and verify
//! it. Must never panic, whatever the bytes.
//!
//! Input layout: 2 control bytes, then the protobuf. Control byte 0 picks how far below the
//! header the trusted state sits (adjacent or skipping) and whether the trusted validators are
//! the block's own; byte 1 shifts `now`. The trusted state is derived from the block itself so
//! that well-formed inputs reach the signature and voting-power code.
#![no_main]

use std::time::Duration;

use ferry_light_client_tendermint::{
    bisection::Bisection, misbehaviour, verify, Height, LightBlock, SignedHeader, TrustThreshold, TrustedState,
    ValidatorSet, VerifyOptions,
};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use tendermint_proto::v0_38::types::LightBlock as RawLightBlock;

fn decode(data: &[u8]) -> Option<LightBlock> {
    let raw = RawLightBlock::decode(data).ok()?;
    let signed_header = SignedHeader::try_from(raw.signed_header?).ok()?;
    let validators = ValidatorSet::try_from(raw.validator_set?).ok()?;
    Some(LightBlock { signed_header, next_validators: validators.clone(), validators })
}

fuzz_target!(|data: &[u8]| {
    let [ctrl, shift, rest @ ..] = data else { return };
    let Some(block) = decode(rest) else { return };
    let header = &block.signed_header.header;

    let below = 1 + u64::from(ctrl % 4);
    let Ok(height) = Height::try_from(header.height.value().saturating_sub(below)) else { return };
    let Ok(time) = header.time - Duration::from_secs(1) else { return };
    let next_validators = if ctrl & 0x10 == 0 { block.validators.clone() } else { ValidatorSet::new(vec![], None) };
    let trusted = TrustedState {
        chain_id: header.chain_id.clone(),
        height,
        time,
        next_validators_hash: if ctrl & 0x20 == 0 { next_validators.hash() } else { header.validators_hash },
        next_validators,
    };
    let options = VerifyOptions {
        trust_threshold: if ctrl & 0x40 == 0 {
            TrustThreshold::ONE_THIRD
        } else {
            TrustThreshold { numerator: u64::from(*shift), denominator: u64::from(ctrl & 0x0f) }
        },
        trusting_period: Duration::from_secs(3600),
        clock_drift: Duration::from_secs(10),
    };
    let Ok(now) = header.time + Duration::from_secs(u64::from(*shift)) else { return };

    if let Ok(state) = verify(&block, &trusted, &options, now) {
        assert_eq!(state.height, block.height());
    }
    let _ = misbehaviour::detect(&block, &block, &trusted, &options, now);
    let mut b = Bisection::new(trusted, block.height(), options, now);
    let _ = b.supply(&block);
});
