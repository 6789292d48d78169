//! The execution-layer block header through Prague: canonical RLP encoding, strict decoding and
//! the block hash `keccak256(rlp(header))`.
//!
//! Fork-dependent fields sit at the end of the list and are decoded by presence: 15 fields before
//! London, then base fee (16, London), withdrawals root (17, Shanghai), blob gas used, excess blob
//! gas and parent beacon block root (20, Cancun), requests hash (21, Prague).

use primitive_types::{H160, H256, U256};
use rlp::{DecoderError, Rlp, RlpStream};

use crate::{error::Error, keccak256, rlp_util};

/// Field counts a header can have: pre-London, London, Shanghai, Cancun, Prague.
pub const FIELD_COUNTS: [usize; 5] = [15, 16, 17, 20, 21];

const BASE_FIELDS: usize = 15;

/// An Ethereum execution-layer block header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub parent_hash: H256,
    /// `sha3Uncles` in JSON-RPC.
    pub ommers_hash: H256,
    /// `miner` in JSON-RPC.
    pub beneficiary: H160,
    pub state_root: H256,
    pub transactions_root: H256,
    pub receipts_root: H256,
    pub logs_bloom: [u8; 256],
    pub difficulty: U256,
    pub number: u64,
    pub gas_limit: u64,
    pub gas_used: u64,
    pub timestamp: u64,
    pub extra_data: Vec<u8>,
    /// `prevRandao` after the merge.
    pub mix_hash: H256,
    pub nonce: [u8; 8],
    /// London.
    pub base_fee_per_gas: Option<U256>,
    /// Shanghai.
    pub withdrawals_root: Option<H256>,
    /// Cancun.
    pub blob_gas_used: Option<u64>,
    /// Cancun.
    pub excess_blob_gas: Option<u64>,
    /// Cancun.
    pub parent_beacon_block_root: Option<H256>,
    /// Prague.
    pub requests_hash: Option<H256>,
}

impl Header {
    /// Decodes a header from its RLP encoding. Strict: the input must be exactly one canonical
    /// encoding, so `Header::decode(raw)?.hash() == keccak256(raw)`.
    pub fn decode(raw: &[u8]) -> Result<Header, Error> {
        let items = rlp_util::list_items(raw).map_err(Error::MalformedHeader)?;
        if !FIELD_COUNTS.contains(&items.len()) {
            return Err(Error::HeaderFieldCount { count: items.len() });
        }
        let header = Self::from_items(&items).map_err(Error::MalformedHeader)?;
        // Canonical integers and lengths are checked by the decoders; this catches anything
        // else that would make the hash of `raw` differ from the hash of the decoded header.
        if header.encode() != raw {
            return Err(Error::MalformedHeader(DecoderError::Custom(
                "non-canonical header encoding",
            )));
        }
        Ok(header)
    }

    fn from_items(items: &[Rlp<'_>]) -> Result<Header, DecoderError> {
        let opt = |i: usize| items.get(i);
        Ok(Header {
            parent_hash: items[0].as_val()?,
            ommers_hash: items[1].as_val()?,
            beneficiary: items[2].as_val()?,
            state_root: items[3].as_val()?,
            transactions_root: items[4].as_val()?,
            receipts_root: items[5].as_val()?,
            logs_bloom: rlp_util::fixed_bytes(&items[6])?,
            difficulty: items[7].as_val()?,
            number: items[8].as_val()?,
            gas_limit: items[9].as_val()?,
            gas_used: items[10].as_val()?,
            timestamp: items[11].as_val()?,
            extra_data: items[12].as_val()?,
            mix_hash: items[13].as_val()?,
            nonce: rlp_util::fixed_bytes(&items[14])?,
            base_fee_per_gas: opt(15).map(Rlp::as_val).transpose()?,
            withdrawals_root: opt(16).map(Rlp::as_val).transpose()?,
            blob_gas_used: opt(17).map(Rlp::as_val).transpose()?,
            excess_blob_gas: opt(18).map(Rlp::as_val).transpose()?,
            parent_beacon_block_root: opt(19).map(Rlp::as_val).transpose()?,
            requests_hash: opt(20).map(Rlp::as_val).transpose()?,
        })
    }

    /// Which optional tail fields are present, in fork order.
    fn tail_presence(&self) -> [bool; 6] {
        [
            self.base_fee_per_gas.is_some(),
            self.withdrawals_root.is_some(),
            self.blob_gas_used.is_some(),
            self.excess_blob_gas.is_some(),
            self.parent_beacon_block_root.is_some(),
            self.requests_hash.is_some(),
        ]
    }

    /// The optional tail fields' encodings, in fork order (`None` when absent).
    fn tail_encodings(&self) -> [Option<Vec<u8>>; 6] {
        fn enc<T: rlp::Encodable>(v: &Option<T>) -> Option<Vec<u8>> {
            v.as_ref().map(|v| rlp::encode(v).to_vec())
        }
        [
            enc(&self.base_fee_per_gas),
            enc(&self.withdrawals_root),
            enc(&self.blob_gas_used),
            enc(&self.excess_blob_gas),
            enc(&self.parent_beacon_block_root),
            enc(&self.requests_hash),
        ]
    }

    /// The number of RLP fields this header encodes to: 15 plus the present tail fields up to
    /// the first absent one.
    pub fn field_count(&self) -> usize {
        BASE_FIELDS + self.tail_presence().iter().take_while(|p| **p).count()
    }

    /// Checks that the optional fields form a valid fork shape: present fields are a prefix of
    /// the fork order (no later field without an earlier one) and the count is one of
    /// [`FIELD_COUNTS`]. Decoded headers always pass; hand-built ones may not, and for those
    /// [`Header::encode`] (and so the hash) silently drops everything after the first gap.
    pub fn check_shape(&self) -> Result<(), Error> {
        let presence = self.tail_presence();
        let prefix = presence.iter().take_while(|p| **p).count();
        if presence[prefix..].iter().any(|p| *p) {
            return Err(Error::HeaderTailGap);
        }
        let count = BASE_FIELDS + prefix;
        if !FIELD_COUNTS.contains(&count) {
            return Err(Error::HeaderFieldCount { count });
        }
        Ok(())
    }

    /// The canonical RLP encoding (see [`Header::check_shape`] for headers with gaps).
    pub fn encode(&self) -> Vec<u8> {
        let mut s = RlpStream::new_list(self.field_count());
        s.append(&self.parent_hash)
            .append(&self.ommers_hash)
            .append(&self.beneficiary)
            .append(&self.state_root)
            .append(&self.transactions_root)
            .append(&self.receipts_root)
            .append(&&self.logs_bloom[..])
            .append(&self.difficulty)
            .append(&self.number)
            .append(&self.gas_limit)
            .append(&self.gas_used)
            .append(&self.timestamp)
            .append(&self.extra_data)
            .append(&self.mix_hash)
            .append(&&self.nonce[..]);
        for item in self.tail_encodings().into_iter().map_while(|item| item) {
            s.append_raw(&item, 1);
        }
        s.out().to_vec()
    }

    /// The block hash: `keccak256(rlp(header))`.
    pub fn hash(&self) -> H256 {
        keccak256(self.encode())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::EMPTY_ROOT;

    /// A Prague-shaped header (fields like anvil's), for tests across the crate.
    pub(crate) fn sample(number: u64) -> Header {
        Header {
            parent_hash: H256::repeat_byte(0x11),
            ommers_hash: H256::repeat_byte(0x22),
            beneficiary: H160::repeat_byte(0x33),
            state_root: H256::repeat_byte(0x44),
            transactions_root: EMPTY_ROOT,
            receipts_root: EMPTY_ROOT,
            logs_bloom: [0u8; 256],
            difficulty: U256::zero(),
            number,
            gas_limit: 30_000_000,
            gas_used: 21_000,
            timestamp: 1_700_000_000 + number * 12,
            extra_data: b"ferry".to_vec(),
            mix_hash: H256::repeat_byte(0x55),
            nonce: [0u8; 8],
            base_fee_per_gas: Some(U256::from(7u64)),
            withdrawals_root: Some(EMPTY_ROOT),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0),
            parent_beacon_block_root: Some(H256::zero()),
            requests_hash: Some(H256::repeat_byte(0x66)),
        }
    }

    /// Drops the tail fields down to `count` fields.
    pub(crate) fn truncated(mut h: Header, count: usize) -> Header {
        if count < 21 {
            h.requests_hash = None;
        }
        if count < 20 {
            h.parent_beacon_block_root = None;
            h.excess_blob_gas = None;
            h.blob_gas_used = None;
        }
        if count < 17 {
            h.withdrawals_root = None;
        }
        if count < 16 {
            h.base_fee_per_gas = None;
        }
        h
    }

    #[test]
    fn round_trip_every_fork_shape() {
        for count in FIELD_COUNTS {
            let h = truncated(sample(9), count);
            assert_eq!(h.field_count(), count);
            h.check_shape().unwrap();
            let raw = h.encode();
            assert_eq!(rlp_util::list_items(&raw).unwrap().len(), count);
            let back = Header::decode(&raw).unwrap();
            assert_eq!(back, h);
            assert_eq!(back.hash(), keccak256(&raw));
        }
    }

    /// Mainnet block 1 (Frontier, 15 fields): its well-known hash.
    #[test]
    fn mainnet_block_1_hash() {
        let hex = |s: &str| H256::from_slice(&::hex::decode(s).unwrap());
        let h = Header {
            parent_hash: hex("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"),
            ommers_hash: hex("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"),
            beneficiary: H160::from_slice(
                &::hex::decode("05a56e2d52c817161883f50c441c3228cfe54d9f").unwrap(),
            ),
            state_root: hex("d67e4d450343046425ae4271474353857ab860dbc0a1dde64b41b5cd3a532bf3"),
            transactions_root: EMPTY_ROOT,
            receipts_root: EMPTY_ROOT,
            logs_bloom: [0u8; 256],
            difficulty: U256::from(0x3ff800000u64),
            number: 1,
            gas_limit: 5000,
            gas_used: 0,
            timestamp: 0x55ba4224,
            extra_data: ::hex::decode("476574682f76312e302e302f6c696e75782f676f312e342e32")
                .unwrap(),
            mix_hash: hex("969b900de27b6ac6a67742365dd65f55a0526c41fd18e1b16f1a1215c2e66f59"),
            nonce: [0x53, 0x9b, 0xd4, 0x97, 0x9f, 0xef, 0x1e, 0xc4],
            base_fee_per_gas: None,
            withdrawals_root: None,
            blob_gas_used: None,
            excess_blob_gas: None,
            parent_beacon_block_root: None,
            requests_hash: None,
        };
        assert_eq!(
            h.hash(),
            hex("88e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc119f13406cb6")
        );
        assert_eq!(Header::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn rejects_bad_field_counts_and_gaps() {
        // 18 and 19 fields (blob gas used without the rest of Cancun) are not a fork.
        let full = sample(1).encode();
        let items = rlp_util::list_items(&full).unwrap();
        for count in [14, 18, 19, 22] {
            let mut s = RlpStream::new_list(count);
            for i in 0..count {
                s.append_raw(items[i.min(20)].as_raw(), 1);
            }
            assert_eq!(
                Header::decode(&s.out()),
                Err(Error::HeaderFieldCount { count })
            );
        }
        let mut gap = sample(1);
        gap.withdrawals_root = None;
        assert_eq!(gap.check_shape(), Err(Error::HeaderTailGap));
        assert_eq!(gap.field_count(), 16);
        let mut half_cancun = truncated(sample(1), 17);
        half_cancun.blob_gas_used = Some(0);
        assert_eq!(
            half_cancun.check_shape(),
            Err(Error::HeaderFieldCount { count: 18 })
        );
    }

    #[test]
    fn rejects_malformed_encodings() {
        let raw = sample(3).encode();
        // Truncated, trailing byte, not a list.
        assert_eq!(
            Header::decode(&raw[..raw.len() - 1]).unwrap_err().reason(),
            "malformed_header"
        );
        let mut long = raw.clone();
        long.push(0);
        assert_eq!(
            Header::decode(&long).unwrap_err().reason(),
            "malformed_header"
        );
        assert_eq!(
            Header::decode(&[0x80]).unwrap_err().reason(),
            "malformed_header"
        );
        // A 31-byte parent hash.
        let items = rlp_util::list_items(&raw).unwrap();
        let mut s = RlpStream::new_list(items.len());
        s.append(&vec![0u8; 31]);
        for item in &items[1..] {
            s.append_raw(item.as_raw(), 1);
        }
        assert_eq!(
            Header::decode(&s.out()).unwrap_err().reason(),
            "malformed_header"
        );
        // A number with a leading zero byte (non-canonical integer).
        let mut s = RlpStream::new_list(items.len());
        for (i, item) in items.iter().enumerate() {
            if i == 8 {
                s.append(&vec![0u8, 3]);
            } else {
                s.append_raw(item.as_raw(), 1);
            }
        }
        assert_eq!(
            Header::decode(&s.out()).unwrap_err().reason(),
            "malformed_header"
        );
    }

    #[test]
    fn hash_changes_with_every_field() {
        let base = sample(5);
        let h0 = base.hash();
        let mut variants = Vec::new();
        let mut v = base.clone();
        v.state_root = H256::repeat_byte(0x99);
        variants.push(v);
        let mut v = base.clone();
        v.timestamp += 1;
        variants.push(v);
        let mut v = base.clone();
        v.logs_bloom[255] = 1;
        variants.push(v);
        let mut v = base.clone();
        v.requests_hash = None;
        variants.push(v);
        for v in variants {
            assert_ne!(v.hash(), h0);
        }
    }
}
