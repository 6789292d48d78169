use std::io::Read;
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Subcommand;

use super::Ctx;

#[derive(Subcommand)]
pub enum KeysCmd {
    /// Create a key from a fresh 24-word mnemonic (stored in the key file, mode 0600).
    Add { name: String },
    /// Import a key from a mnemonic read from a file or, without --mnemonic-file, from stdin.
    Import {
        name: String,
        #[arg(long)]
        mnemonic_file: Option<PathBuf>,
    },
    /// List keys with their address on every configured chain.
    List,
    /// Delete a key file.
    Delete { name: String },
}

pub fn run(cmd: KeysCmd, ctx: &Ctx) -> Result<()> {
    let ks = ctx.keystore();
    // Each configured chain's own address form (bech32 with its prefix, or an EIP-55 0x address
    // from the same mnemonic at the Ethereum HD path); without a config, the cosmos prefix.
    enum Form {
        Bech32(String),
        Evm(u64),
    }
    let forms: Vec<(String, Form)> = ctx
        .load_config()
        .map(|c| {
            c.chains
                .iter()
                .map(|ch| {
                    let form = match &ch.evm {
                        Some(e) => Form::Evm(e.chain_id),
                        None => Form::Bech32(ch.account_prefix.clone()),
                    };
                    (ch.id.to_string(), form)
                })
                .collect()
        })
        .unwrap_or_else(|_| vec![("cosmos".into(), Form::Bech32("cosmos".into()))]);
    let describe = |key: &crate::keys::Key| -> serde_json::Value {
        let addrs: serde_json::Map<String, serde_json::Value> = forms
            .iter()
            .filter_map(|(id, form)| {
                let addr = match form {
                    Form::Bech32(p) => key.address(p).ok()?,
                    Form::Evm(chain_id) => {
                        use ethers::signers::Signer;
                        let w = ks.load_evm(&key.name, *chain_id).ok()?;
                        ethers::utils::to_checksum(&w.address(), None)
                    }
                };
                Some((id.clone(), addr.into()))
            })
            .collect();
        serde_json::json!({ "name": key.name, "addresses": addrs })
    };
    match cmd {
        KeysCmd::Add { name } => {
            let key = ks.add(&name)?;
            let v = describe(&key);
            ctx.emit(&v, || {
                format!(
                    "added key `{name}` ({}); its mnemonic is in {} — back that file up",
                    v["addresses"],
                    ctx.home.join("keys").display()
                )
            });
        }
        KeysCmd::Import {
            name,
            mnemonic_file,
        } => {
            let mut phrase = String::new();
            match mnemonic_file {
                Some(f) => {
                    phrase = std::fs::read_to_string(&f)
                        .with_context(|| format!("reading {}", f.display()))?
                }
                None => {
                    std::io::stdin()
                        .read_to_string(&mut phrase)
                        .context("reading the mnemonic from stdin")?;
                }
            }
            if phrase.trim().is_empty() {
                return Err(anyhow!("no mnemonic given"));
            }
            let key = ks.import(&name, &phrase)?;
            let v = describe(&key);
            ctx.emit(&v, || format!("imported key `{name}` ({})", v["addresses"]));
        }
        KeysCmd::List => {
            let mut out = Vec::new();
            for name in ks.list()? {
                match ks.load(&name) {
                    Ok(k) => out.push(describe(&k)),
                    Err(e) => out.push(serde_json::json!({ "name": name, "error": e.to_string() })),
                }
            }
            ctx.emit(&out, || {
                if out.is_empty() {
                    "no keys".into()
                } else {
                    out.iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            });
        }
        KeysCmd::Delete { name } => {
            ks.delete(&name)?;
            ctx.emit(&serde_json::json!({ "deleted": name }), || {
                format!("deleted key `{name}`")
            });
        }
    }
    Ok(())
}
