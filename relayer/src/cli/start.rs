use anyhow::Result;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use super::Ctx;

/// Run until SIGINT or SIGTERM; in-flight transactions are confirmed before exiting 0.
pub async fn run(ctx: &Ctx) -> Result<()> {
    let cfg = ctx.load_config()?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down: finishing in-flight transactions");
        let _ = tx.send(true);
    });
    crate::supervisor::run(cfg, &ctx.home, rx, None).await?;
    tracing::info!("stopped");
    Ok(())
}
