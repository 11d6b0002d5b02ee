//! `cablekey pots`: a POTS gateway on loopback: trunk endpoints
//! (`ds/ds1-1/N@<domain>`) speaking MGCP to the controller, SRTP under the
//! call key on the IP side, a simulated telephone network behind them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{ensure, Context};
use cablekey_pots_gateway::pstn;
use cablekey_pots_gateway::sim::{Config, PotsGateway};
use clap::Args;

#[derive(Args)]
#[command(after_help = "\
The gateway registers its trunks with RSIP ds/ds1-1/*@<domain>; configure
them in the controller as endpoints of kind \"trunk\" and route numbers to
them with [[trunk_route]] (docs/pots.md). A call the controller alerts on a
trunk (CRCX with the key, S: L/rg) is answered by the network after
--answer-after-ms; a call from the network (--call, or `pstn call NUMBER` on
the console) seizes a free trunk, waits for proceed-to-send and outpulses
the number. Each trunk's network side plays --tone and records what it
hears to --record-dir. Console: the CTA console's commands with `line N`
naming the trunk, plus `pstn call NUMBER`, `pstn hangup N`, `pstn answer N`,
`pstn status`. Keys show only as fingerprints.")]
pub struct PotsArgs {
    /// The call agent (gateway controller) to register with.
    #[arg(long, default_value = "127.0.0.1:2727")]
    call_agent: SocketAddr,
    /// Where the gateway listens for MGCP (its IP carries the media too).
    #[arg(long, default_value = "127.0.0.30:2427")]
    addr: SocketAddr,
    /// Its domain: trunks are ds/ds1-1/N@<domain>.
    #[arg(long, default_value = "gw1.lab")]
    domain: String,
    /// Trunks (1 to 24).
    #[arg(long, default_value_t = 4)]
    trunks: usize,
    /// First RTP port (two per connection from here).
    #[arg(long, default_value_t = 20000)]
    rtp_port: u16,
    /// The network answers an alerted call after this long; 0: only on
    /// `pstn answer N`.
    #[arg(long, default_value_t = 300)]
    answer_after_ms: u64,
    /// The network side of every trunk plays a tone of this frequency (Hz).
    #[arg(long)]
    tone: Option<f64>,
    /// Record what each trunk's network side hears to DIR/<domain>-trunk<N>.wav.
    #[arg(long)]
    record_dir: Option<PathBuf>,
    /// Place a call from the network to this number once registered.
    #[arg(long, value_name = "NUMBER")]
    call: Option<String>,
    /// Run without a serial console.
    #[arg(long)]
    no_console: bool,
}

pub fn run(args: PotsArgs) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pots: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pots: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: PotsArgs) -> anyhow::Result<()> {
    ensure!((1..=24).contains(&args.trunks), "--trunks is 1 to 24");
    let mut config = Config::new(&args.domain, args.addr, args.call_agent);
    config.trunks = args.trunks;
    config.rtp_base_port = args.rtp_port;
    config.console = !args.no_console;
    config.pstn = pstn::Config {
        answer_after: (args.answer_after_ms > 0)
            .then(|| Duration::from_millis(args.answer_after_ms)),
        ..pstn::Config::default()
    };
    let gw = PotsGateway::start(config)
        .await
        .with_context(|| format!("{} on {}", args.domain, args.addr))?;
    let console = gw
        .cta()
        .console
        .as_ref()
        .map_or("none".into(), |p| p.display().to_string());
    println!(
        "{} mgcp {} trunks {} ({} .. {}) console {console}",
        args.domain,
        gw.mgcp(),
        args.trunks,
        gw.trunk(0),
        gw.trunk(args.trunks - 1)
    );
    for t in 1..=args.trunks {
        if let Some(hz) = args.tone {
            let answer = gw.command(&format!("play tone {hz} 0.5 line {t}")).await;
            ensure!(answer.starts_with("ok"), "{answer}");
        }
        if let Some(dir) = &args.record_dir {
            let path = dir.join(format!("{}-trunk{t}.wav", args.domain));
            let answer = gw
                .command(&format!("record {} line {t}", path.display()))
                .await;
            ensure!(answer.starts_with("ok"), "{answer}");
        }
    }
    if let Some(number) = &args.call {
        ensure!(
            gw.registered(Duration::from_secs(10)).await,
            "the call agent at {} did not answer the RSIP",
            args.call_agent
        );
        let trunk = gw.call(number).await.map_err(anyhow::Error::msg)?;
        println!("call from the network on trunk {}", trunk + 1);
    }
    tokio::signal::ctrl_c().await?;
    gw.stop().await;
    Ok(())
}
