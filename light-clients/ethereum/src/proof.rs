//! EIP-1186 (`eth_getProof`) proofs: an account under a header's state root, and storage slots
//! under the account's storage root. Both tries are "secure": the path is the keccak-256 of the
//! address, or of the 32-byte slot.

use primitive_types::{H160, H256, U256};
use rlp::RlpStream;

use crate::{error::Error, keccak256, rlp_util, trie::verify_proof, EMPTY_ROOT};

/// An account as stored in the state trie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub nonce: u64,
    pub balance: U256,
    pub storage_root: H256,
    pub code_hash: H256,
}

impl Account {
    /// Decodes the state trie's value: `rlp([nonce, balance, storage_root, code_hash])`.
    pub fn decode(raw: &[u8]) -> Result<Account, Error> {
        let items = rlp_util::list_items(raw).map_err(Error::MalformedAccount)?;
        if items.len() != 4 {
            return Err(Error::MalformedAccount(
                rlp::DecoderError::RlpIncorrectListLen,
            ));
        }
        Ok(Account {
            nonce: items[0].as_val().map_err(Error::MalformedAccount)?,
            balance: items[1].as_val().map_err(Error::MalformedAccount)?,
            storage_root: items[2].as_val().map_err(Error::MalformedAccount)?,
            code_hash: items[3].as_val().map_err(Error::MalformedAccount)?,
        })
    }

    /// The state trie's value for this account.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = RlpStream::new_list(4);
        s.append(&self.nonce)
            .append(&self.balance)
            .append(&self.storage_root)
            .append(&self.code_hash);
        s.out().to_vec()
    }
}

/// Verifies an account proof against a state root. `Ok(None)` proves that no account exists at
/// `address` (the proof shows the path ends elsewhere).
pub fn verify_account_proof<N: AsRef<[u8]>>(
    state_root: &H256,
    address: &H160,
    proof: &[N],
) -> Result<Option<Account>, Error> {
    verify_proof(state_root, keccak256(address).as_bytes(), proof)?
        .map(|raw| Account::decode(&raw))
        .transpose()
}

/// Verifies a storage proof against an account's storage root. `Ok(None)` proves the slot is
/// not in the trie (it reads as zero); `Ok(Some(v))` proves it holds `v` (never zero).
pub fn verify_storage_proof<N: AsRef<[u8]>>(
    storage_root: &H256,
    slot: &H256,
    proof: &[N],
) -> Result<Option<U256>, Error> {
    verify_proof(storage_root, keccak256(slot).as_bytes(), proof)?
        .map(|raw| rlp::decode::<U256>(&raw).map_err(Error::MalformedStorageValue))
        .transpose()
}

/// Verifies a slot of `address` all the way from a header's state root: the account proof, then
/// the storage proof under the proven account's storage root (under the empty root if the
/// account does not exist). Returns the slot's value (`None`: unset, reads as zero).
pub fn verify_storage_under_state_root<A: AsRef<[u8]>, S: AsRef<[u8]>>(
    state_root: &H256,
    address: &H160,
    account_proof: &[A],
    slot: &H256,
    storage_proof: &[S],
) -> Result<Option<U256>, Error> {
    let storage_root = verify_account_proof(state_root, address, account_proof)?
        .map_or(EMPTY_ROOT, |account| account.storage_root);
    verify_storage_proof(&storage_root, slot, storage_proof)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{builder::Trie, EMPTY_CODE_HASH};

    fn account(nonce: u64, balance: u64, storage_root: H256) -> Account {
        Account {
            nonce,
            balance: U256::from(balance),
            storage_root,
            code_hash: EMPTY_CODE_HASH,
        }
    }

    /// A state with a few accounts, one of which has storage.
    fn state() -> (Trie, Trie, H160) {
        let contract = H160::repeat_byte(0xcc);
        let mut storage = Trie::new();
        for (slot, value) in [(0u64, 42u64), (1, 1), (7, 0xdead_beef)] {
            let slot = H256::from_low_u64_be(slot);
            storage.insert(keccak256(slot).as_bytes(), &rlp::encode(&U256::from(value)));
        }
        let mut state = Trie::new();
        for i in 1..=20u8 {
            let address = H160::repeat_byte(i);
            state.insert(
                keccak256(address).as_bytes(),
                &account(i as u64, 1_000 * i as u64, EMPTY_ROOT).encode(),
            );
        }
        let with_storage = account(1, 0, storage.root());
        state.insert(keccak256(contract).as_bytes(), &with_storage.encode());
        (state, storage, contract)
    }

    #[test]
    fn account_present_and_absent() {
        let (state, _, _) = state();
        let root = state.root();
        let address = H160::repeat_byte(7);
        let proof = state.prove(keccak256(address).as_bytes());
        assert_eq!(
            verify_account_proof(&root, &address, &proof),
            Ok(Some(account(7, 7_000, EMPTY_ROOT)))
        );
        let missing = H160::repeat_byte(0xfe);
        let proof = state.prove(keccak256(missing).as_bytes());
        assert_eq!(verify_account_proof(&root, &missing, &proof), Ok(None));
        // A membership proof for one account says nothing about another one.
        let proof = state.prove(keccak256(address).as_bytes());
        assert!(
            verify_account_proof(&root, &missing, &proof)
                != Ok(Some(account(7, 7_000, EMPTY_ROOT)))
        );
    }

    #[test]
    fn storage_from_the_state_root() {
        let (state, storage, contract) = state();
        let root = state.root();
        let account_proof = state.prove(keccak256(contract).as_bytes());
        for (slot, expected) in [
            (0u64, Some(42u64)),
            (1, Some(1)),
            (7, Some(0xdead_beef)),
            (2, None),
        ] {
            let slot = H256::from_low_u64_be(slot);
            let storage_proof = storage.prove(keccak256(slot).as_bytes());
            assert_eq!(
                verify_storage_under_state_root(
                    &root,
                    &contract,
                    &account_proof,
                    &slot,
                    &storage_proof
                ),
                Ok(expected.map(U256::from))
            );
        }
        // An account without storage: any slot is absent with an empty storage proof.
        let plain = H160::repeat_byte(3);
        let account_proof = state.prove(keccak256(plain).as_bytes());
        assert_eq!(
            verify_storage_under_state_root::<_, Vec<u8>>(
                &root,
                &plain,
                &account_proof,
                &H256::zero(),
                &[]
            ),
            Ok(None)
        );
        // A storage proof from another account's trie does not verify.
        let storage_proof = storage.prove(keccak256(H256::zero()).as_bytes());
        assert_eq!(
            verify_storage_under_state_root(
                &root,
                &plain,
                &account_proof,
                &H256::zero(),
                &storage_proof
            )
            .unwrap_err()
            .reason(),
            "root_hash_mismatch"
        );
    }

    #[test]
    fn malformed_values() {
        let mut trie = Trie::new();
        let address = H160::repeat_byte(1);
        trie.insert(keccak256(address).as_bytes(), &rlp::encode(&5u64));
        let proof = trie.prove(keccak256(address).as_bytes());
        assert_eq!(
            verify_account_proof(&trie.root(), &address, &proof)
                .unwrap_err()
                .reason(),
            "malformed_account"
        );
        let slot = H256::zero();
        let mut trie = Trie::new();
        trie.insert(keccak256(slot).as_bytes(), &[0x82, 0x00, 0x01]);
        let proof = trie.prove(keccak256(slot).as_bytes());
        assert_eq!(
            verify_storage_proof(&trie.root(), &slot, &proof)
                .unwrap_err()
                .reason(),
            "malformed_storage_value"
        );
    }
}
