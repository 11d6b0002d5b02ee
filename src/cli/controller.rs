//! `cablekey controller`: the head-end call agent as a service.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cablekey_gateway_controller::service::{self, config::EXAMPLE, Settings};
use clap::Args;

#[derive(Args)]
#[command(after_help = "\
The configuration is TOML; `cablekey controller --example` prints a
commented one. The controller refuses to start without the law-enforcement
public key (`cablekey keygen`). SIGINT or SIGTERM stops it gracefully:
transactions and escrows in flight finish (up to --grace), the epoch key is
wiped and the store closed.")]
pub struct ControllerArgs {
    /// Configuration file.
    #[arg(long, short, default_value = "controller.toml")]
    config: PathBuf,
    /// Print an example configuration and exit.
    #[arg(long)]
    example: bool,
    /// Longest wait for transactions in flight at shutdown, in seconds.
    #[arg(long, default_value_t = 10.0)]
    grace: f64,
}

pub fn run(args: ControllerArgs) -> ExitCode {
    if args.example {
        print!("{EXAMPLE}");
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::load(&args.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cablekey controller: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cablekey controller: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async {
        let grace = Duration::from_secs_f64(args.grace.clamp(0.0, 600.0));
        let running = match service::start(settings, grace).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("cablekey controller: {e}");
                return ExitCode::from(2);
            }
        };
        println!("controller listening on {}", running.addr);
        wait_for_stop().await;
        running.shutdown(grace).await;
        ExitCode::SUCCESS
    })
}

/// SIGINT or SIGTERM.
pub async fn wait_for_stop() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
