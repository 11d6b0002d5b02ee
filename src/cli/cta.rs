//! `cablekey cta`: simulated CTAs on loopback, each a real UDP MGCP
//! endpoint with SRTP media and a serial console on a pseudo-terminal.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use cablekey_cta_firmware::sim::{self, Cta};
use cablekey_keyfile as keyfile;
use cablekey_protocol::srtp::Suite;
use clap::Args;

#[derive(Args)]
#[command(after_help = "\
Each CTA gets its own address (--base-addr, then the next ones) and the
domain cta1.<domain>, cta2.<domain>, ...: its endpoints are aaln/N@cta1.lab.
It sends RSIP to the call agent at start, answers RQNT/CRCX/MDCX/DLCX/AUEP,
and protects media with SRTP under keys derived from the call key in the
CRCX (L: k:base64:<K>, x-dir:caller|callee; see docs/srtp.md).

The console of each CTA is a pseudo-terminal whose path is printed at
start; open it with e.g. `picocom /dev/pts/N` or `socat - /dev/pts/N,raw`
and type `help`. Keys are never shown, only their fingerprints.")]
pub struct CtaArgs {
    /// The call agent (gateway controller) to register with.
    #[arg(long, default_value = "127.0.0.1:2727")]
    call_agent: SocketAddr,
    /// How many CTAs to run.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// The first CTA's address; the next CTAs take the following addresses.
    #[arg(long, default_value = "127.0.0.20")]
    base_addr: IpAddr,
    /// The MGCP port each CTA listens on.
    #[arg(long, default_value_t = 2427)]
    port: u16,
    /// Domain under which CTAs are named cta1.<domain>, cta2.<domain>, ...
    #[arg(long, default_value = "lab")]
    domain: String,
    /// Subscriber lines per CTA (1 to 4).
    #[arg(long, default_value_t = 1)]
    lines: usize,
    /// First RTP port of each CTA (two per connection from here).
    #[arg(long, default_value_t = 16384)]
    rtp_port: u16,
    /// SRTP suite when a CRCX names none (sc-rtp:).
    #[arg(long, default_value = "AEAD_AES_128_GCM")]
    suite: String,
    /// Play a tone of this frequency (Hz) on every line from the start.
    #[arg(long)]
    tone: Option<f64>,
    /// Record what every line receives to DIR/<cta>-line<N>.wav.
    #[arg(long)]
    record_dir: Option<PathBuf>,
    /// Signaling session keys for derived call keys: DIR/<domain>.session
    /// for each CTA (mode 0600, the controller's session_key_file format;
    /// `cablekey lab --keys derived` writes them). A CTA without one
    /// refuses derived-key calls (532).
    #[arg(long, value_name = "DIR")]
    session_keys: Option<PathBuf>,
    /// Run without serial consoles.
    #[arg(long)]
    no_console: bool,
}

pub fn run(args: CtaArgs) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cta: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cta: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: CtaArgs) -> anyhow::Result<()> {
    let suite = Suite::from_name(&args.suite)
        .map_err(|e| anyhow::anyhow!("--suite {}: {e}", args.suite))?;
    anyhow::ensure!(args.count >= 1, "--count must be at least 1");
    anyhow::ensure!((1..=4).contains(&args.lines), "--lines is 1 to 4");
    let mut ctas: Vec<Cta> = Vec::new();
    for (i, addr) in sim::addresses(args.base_addr, args.port, args.count)
        .into_iter()
        .enumerate()
    {
        let domain = format!("cta{}.{}", i + 1, args.domain);
        let mut config = sim::Config::new(&domain, addr, args.call_agent);
        config.lines = args.lines;
        config.rtp_base_port = args.rtp_port;
        config.default_suite = suite;
        config.console = !args.no_console;
        if let Some(dir) = &args.session_keys {
            let path = dir.join(format!("{domain}.session"));
            if path.exists() {
                config.session_key = Some(keyfile::load_session_key(&path)?);
            }
        }
        let cta = Cta::start(config)
            .await
            .with_context(|| format!("{domain} on {addr}"))?;
        let console = cta
            .console
            .as_ref()
            .map_or("none".into(), |p| p.display().to_string());
        println!("{domain} mgcp {} console {console}", cta.mgcp);
        for line in 1..=args.lines.clamp(1, 4) {
            if let Some(hz) = args.tone {
                cta.command(&format!("play tone {hz} 0.5 line {line}"))
                    .await;
            }
            if let Some(dir) = &args.record_dir {
                let path = dir.join(format!("{domain}-line{line}.wav"));
                let answer = cta
                    .command(&format!("record {} line {line}", path.display()))
                    .await;
                anyhow::ensure!(answer.starts_with("ok"), "{answer}");
            }
        }
        ctas.push(cta);
    }
    tokio::signal::ctrl_c().await?;
    for cta in ctas {
        cta.stop().await;
    }
    Ok(())
}
