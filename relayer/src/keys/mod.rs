//! The keystore: one JSON file per key under `<home>/keys/`, holding a BIP-39 mnemonic.
//! Files are created mode 0600 in a 0700 folder, and a key file that group or others can read is
//! refused. Nothing here ever logs or prints the mnemonic or the private key.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cosmrs::crypto::secp256k1::SigningKey;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Cosmos SDK coin type 118, first account.
pub const COSMOS_HD_PATH: &str = "m/44'/118'/0'/0/0";
pub const ETH_HD_PATH: &str = "m/44'/60'/0'/0/0";

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("no key named `{name}` (looked for {path}); add one with `ferry keys add` or `ferry keys import`")]
    NotFound { name: String, path: PathBuf },
    #[error("a key named `{0}` already exists; delete it first")]
    Exists(String),
    #[error("key name `{0}` must be 1-64 letters, digits, `-` or `_`")]
    BadName(String),
    #[error(
        "key file {path} has mode {mode:o}: group or others can read it; run `chmod 600 {path}`"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("the mnemonic is not a valid BIP-39 phrase: {0}")]
    BadMnemonic(String),
    #[error("key file {path} is not a Ferry key file: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot derive key at {path}: {reason}")]
    Derive { path: String, reason: String },
    #[error("keystore I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    name: String,
    mnemonic: String,
    hd_path: String,
}

/// A loaded key. `Debug` shows only the public half.
pub struct Key {
    pub name: String,
    signing_key: SigningKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// Derive a key from a mnemonic at the Cosmos HD path, without storing it.
    pub fn from_mnemonic(name: &str, phrase: &str) -> Result<Key, KeyError> {
        derive(name, phrase, COSMOS_HD_PATH)
    }
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }
    pub fn public_key(&self) -> cosmrs::crypto::PublicKey {
        self.signing_key.public_key()
    }
    /// The bech32 account address with the chain's prefix.
    pub fn address(&self, prefix: &str) -> Result<String, KeyError> {
        self.public_key()
            .account_id(prefix)
            .map(|a| a.to_string())
            .map_err(|e| KeyError::Derive {
                path: prefix.into(),
                reason: e.to_string(),
            })
    }
}

pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    pub fn new(home: &Path) -> Self {
        KeyStore {
            dir: home.join("keys"),
        }
    }

    fn path(&self, name: &str) -> Result<PathBuf, KeyError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(KeyError::BadName(name.into()));
        }
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// Create a key from a fresh 24-word mnemonic.
    pub fn add(&self, name: &str) -> Result<Key, KeyError> {
        let mnemonic =
            bip39::Mnemonic::generate(24).map_err(|e| KeyError::BadMnemonic(e.to_string()))?;
        self.import(name, &mnemonic.to_string())
    }

    /// Store a key from a mnemonic the operator already has.
    pub fn import(&self, name: &str, mnemonic: &str) -> Result<Key, KeyError> {
        let path = self.path(name)?;
        let phrase = mnemonic.split_whitespace().collect::<Vec<_>>().join(" ");
        let key = derive(name, &phrase, COSMOS_HD_PATH)?;
        let io = |source| KeyError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(&self.dir).map_err(io)?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
        let file = KeyFile {
            name: name.into(),
            mnemonic: phrase,
            hd_path: COSMOS_HD_PATH.into(),
        };
        let body = serde_json::to_vec_pretty(&file).expect("key file serialises");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    KeyError::Exists(name.into())
                } else {
                    io(e)
                }
            })?;
        f.write_all(&body).map_err(io)?;
        Ok(key)
    }

    pub fn load(&self, name: &str) -> Result<Key, KeyError> {
        let file = self.read(name)?;
        derive(name, &file.mnemonic, &file.hd_path)
    }

    /// The same key file's mnemonic at the Ethereum HD path (`m/44'/60'/0'/0/0`), as a wallet
    /// signing for `chain_id`. Same permission checks as [`KeyStore::load`].
    pub fn load_evm(
        &self,
        name: &str,
        chain_id: u64,
    ) -> Result<ethers::signers::LocalWallet, KeyError> {
        let file = self.read(name)?;
        evm_wallet(&file.mnemonic, chain_id)
    }

    fn read(&self, name: &str) -> Result<KeyFile, KeyError> {
        let path = self.path(name)?;
        let meta = fs::metadata(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => KeyError::NotFound {
                name: name.into(),
                path: path.clone(),
            },
            _ => KeyError::Io {
                path: path.clone(),
                source: e,
            },
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions { path, mode });
        }
        let body = fs::read(&path).map_err(|source| KeyError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&body).map_err(|e| KeyError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })
    }

    pub fn list(&self) -> Result<Vec<String>, KeyError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(source) => {
                return Err(KeyError::Io {
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".json")
                    .map(String::from)
            })
            .collect();
        names.sort();
        Ok(names)
    }

    pub fn delete(&self, name: &str) -> Result<(), KeyError> {
        let path = self.path(name)?;
        fs::remove_file(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => KeyError::NotFound {
                name: name.into(),
                path: path.clone(),
            },
            _ => KeyError::Io {
                path: path.clone(),
                source: e,
            },
        })
    }
}

/// An Ethereum wallet from a mnemonic at `m/44'/60'/0'/0/0` (what MetaMask and anvil derive).
pub fn evm_wallet(phrase: &str, chain_id: u64) -> Result<ethers::signers::LocalWallet, KeyError> {
    use ethers::signers::Signer;
    let mnemonic = bip39::Mnemonic::parse_normalized(phrase)
        .map_err(|e| KeyError::BadMnemonic(e.to_string()))?;
    let seed = mnemonic.to_seed("");
    let path: cosmrs::bip32::DerivationPath = ETH_HD_PATH.parse().expect("valid constant path");
    let derive_err = |reason: String| KeyError::Derive {
        path: ETH_HD_PATH.into(),
        reason,
    };
    let xprv = cosmrs::bip32::XPrv::derive_from_path(seed, &path)
        .map_err(|e| derive_err(e.to_string()))?;
    let wallet = ethers::signers::LocalWallet::from_bytes(&xprv.private_key().to_bytes())
        .map_err(|e| derive_err(e.to_string()))?;
    Ok(wallet.with_chain_id(chain_id))
}

fn derive(name: &str, phrase: &str, hd_path: &str) -> Result<Key, KeyError> {
    let mnemonic = bip39::Mnemonic::parse_normalized(phrase)
        .map_err(|e| KeyError::BadMnemonic(e.to_string()))?;
    let seed = mnemonic.to_seed("");
    let path: cosmrs::bip32::DerivationPath =
        hd_path
            .parse()
            .map_err(|e: cosmrs::bip32::Error| KeyError::Derive {
                path: hd_path.into(),
                reason: e.to_string(),
            })?;
    let signing_key = SigningKey::derive_from_path(seed, &path).map_err(|e| KeyError::Derive {
        path: hd_path.into(),
        reason: e.to_string(),
    })?;
    Ok(Key {
        name: name.into(),
        signing_key,
    })
}

/// A valid mnemonic derived from a label: for devnet test accounts only, never for real funds.
pub fn deterministic_mnemonic(label: &str) -> String {
    use sha2::{Digest, Sha256};
    let entropy = Sha256::digest(label.as_bytes());
    bip39::Mnemonic::from_entropy(&entropy)
        .expect("32 bytes is valid entropy")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_home(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ferry-keys-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    // The standard BIP-39 test phrase derives this address at m/44'/118'/0'/0/0 (as `simd keys add --recover` does).
    const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    #[test]
    fn evm_wallet_matches_anvil_account_zero() {
        use ethers::signers::Signer;
        let anvil = "test test test test test test test test test test test junk";
        let w = evm_wallet(anvil, 31337).unwrap();
        assert_eq!(
            format!("{:?}", w.address()),
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
        );
        assert_eq!(w.chain_id(), 31337);
    }

    #[test]
    fn import_load_list_delete() {
        let home = temp_home("roundtrip");
        let ks = KeyStore::new(&home);
        let k = ks.import("relayer", PHRASE).unwrap();
        assert_eq!(
            k.address("cosmos").unwrap(),
            "cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4"
        );
        assert!(matches!(
            ks.import("relayer", PHRASE),
            Err(KeyError::Exists(_))
        ));
        let mode = fs::metadata(home.join("keys/relayer.json"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            ks.load("relayer").unwrap().address("cosmos").unwrap(),
            k.address("cosmos").unwrap()
        );
        assert_eq!(ks.list().unwrap(), vec!["relayer".to_string()]);
        assert!(!format!("{k:?}").contains("abandon"));
        ks.delete("relayer").unwrap();
        assert!(matches!(ks.load("relayer"), Err(KeyError::NotFound { .. })));
        fs::remove_dir_all(home).unwrap();
    }

    #[test]
    fn readable_key_file_is_refused() {
        let home = temp_home("perms");
        let ks = KeyStore::new(&home);
        ks.import("k", PHRASE).unwrap();
        fs::set_permissions(home.join("keys/k.json"), fs::Permissions::from_mode(0o644)).unwrap();
        let err = ks.load("k").unwrap_err();
        assert!(
            matches!(err, KeyError::Permissions { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"));
        fs::remove_dir_all(home).unwrap();
    }

    #[test]
    fn bad_mnemonic_and_name() {
        let ks = KeyStore::new(&temp_home("bad"));
        assert!(matches!(
            ks.import("k", "not a mnemonic"),
            Err(KeyError::BadMnemonic(_))
        ));
        assert!(matches!(
            ks.import("../x", PHRASE),
            Err(KeyError::BadName(_))
        ));
        assert_ne!(deterministic_mnemonic("a"), deterministic_mnemonic("b"));
        assert!(bip39::Mnemonic::parse(deterministic_mnemonic("a")).is_ok());
    }
}
