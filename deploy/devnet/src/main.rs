//! `ferry-devnet`: what `ferry devnet …` runs.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "ferry devnet",
    version,
    about = "Ferry's local devnet: ibc-go chains and anvil on loopback"
)]
struct Cli {
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: ferry_devnet::DevnetCmd,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    ferry::cli::init_tracing("info");
    let dir = ferry::config::devnet_dir();
    let ctx = ferry::cli::Ctx {
        home: dir.join("ferry"),
        config_path: dir.join("ferry").join("config.toml"),
        json: cli.json,
    };
    ferry::cli::block_on_command(&ctx, ferry_devnet::run_command(cli.command, &ctx))
}
