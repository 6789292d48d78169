//! The EVM half of `ferry devnet demo`: the test ERC-20 from evm-l3 to evm-settlement and part of
//! its voucher back, relayed by the running relayer over the `l3-settlement-evm` path.

use std::time::Duration;

use anyhow::{anyhow, Result};
use ethers::types::{Address, U256};

use crate::evm::CLIENT_ID;
use crate::DevnetState;
use ferry::chain::evm::abi::Ics20Transfer;
use ferry::chain::evm::EvmChain;
use ferry::cli::Ctx;
use ferry::transfer::evm::{send, status, EvmTransfer};
use ferry::transfer::TransferState;

fn open(ctx: &Ctx, id: &str) -> Result<std::sync::Arc<EvmChain>> {
    ctx.evm_chain(&ctx.load_config()?, &id.parse()?)
}

async fn one(
    ctx: &Ctx,
    src: &EvmChain,
    dst: &EvmChain,
    token: Address,
    amount: u64,
    to: &str,
) -> Result<()> {
    let wallet = ctx
        .keystore()
        .load_evm("user", src.evm.chain_id)
        .map_err(|e| anyhow!("devnet user key: {e}"))?;
    let client = CLIENT_ID.parse()?;
    let t = EvmTransfer {
        wallet,
        token,
        amount: amount.into(),
        receiver: to,
        client: &client,
        timeout: Duration::from_secs(600),
        memo: "ferry demo",
    };
    let (hash, _) = send(src, &t).await?;
    let st = ferry::cli::transfer::follow(ctx, &hash, Duration::from_secs(180), || {
        status(src, dst, &hash)
    })
    .await?;
    if st
        != (TransferState::Acknowledged {
            ok: true,
            error: None,
        })
    {
        return Err(anyhow!("transfer {hash} ended {}", st.label()));
    }
    Ok(())
}

pub async fn run(ctx: &Ctx, state: &DevnetState) -> Result<()> {
    let (l3, st) = (open(ctx, "evm-l3")?, open(ctx, "evm-settlement")?);
    let node = |id: &str| state.evm.iter().find(|n| n.chain_id == id).cloned();
    let (l3n, stn) = (
        node("evm-l3").ok_or_else(|| anyhow!("devnet has no evm-l3"))?,
        node("evm-settlement").ok_or_else(|| anyhow!("devnet has no evm-settlement"))?,
    );
    let user: Address = state
        .addresses
        .get("evm-user")
        .ok_or_else(|| anyhow!("no devnet evm user"))?
        .parse()?;
    let trace = format!("transfer/{CLIENT_ID}/{:?}", l3n.token);
    let voucher = || async {
        Ics20Transfer::new(stn.transfer, st.provider())
            .voucher_of(trace.clone())
            .call()
            .await
            .map_err(|e| anyhow!("voucherOf: {e}"))
    };
    let show = |label: &'static str, a: U256, b: U256| {
        println!(
            "{label}: {a} L3T ({:?}) on {}; {b} of voucher {trace} on {}",
            l3n.token, l3.id, st.id
        )
    };
    let st2 = st.clone();
    let balance_of = move |v: Address| {
        let st = st2.clone();
        async move {
            if v.is_zero() {
                Ok(U256::zero())
            } else {
                st.balance(user, Some(v)).await
            }
        }
    };
    let before = (
        l3.balance(user, Some(l3n.token)).await?,
        balance_of(voucher().await?).await?,
    );
    show("balances before", before.0, before.1);
    println!(
        "==> transfer 1000 L3T {} -> {} (IBC v2 path l3-settlement-evm)",
        l3.id, st.id
    );
    one(ctx, &l3, &st, l3n.token, 1000, &format!("{user:?}")).await?;
    let v = voucher().await?;
    println!(
        "==> transfer 400 of voucher {v:?} {} -> {} (back to L3T)",
        st.id, l3.id
    );
    one(ctx, &st, &l3, v, 400, &format!("{user:?}")).await?;
    let after = (
        l3.balance(user, Some(l3n.token)).await?,
        balance_of(v).await?,
    );
    show("balances after ", after.0, after.1);
    Ok(())
}
