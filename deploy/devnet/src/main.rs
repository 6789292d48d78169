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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(ferry_devnet::run_command(cli.command, &ctx)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if ctx.json {
                println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            } else {
                eprintln!("error: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
