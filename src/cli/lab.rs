//! `cablekey lab`: the whole system on loopback. A controller with its
//! escrow store, simulated CTAs with SRTP media, a POTS gateway with the
//! telephone network behind it; calls with tones in both directions
//! (between CTAs, then to and from the network); then each call is checked: both ends used one key, the
//! escrow holds exactly that key (opened with the LE private key), and each
//! side heard the other's tone.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use cablekey_cta_firmware::line::Phase;
use cablekey_cta_firmware::sim::impair::{Impairment, Proxy, Tally};
use cablekey_cta_firmware::sim::{self, tone, wav, Cta, Snapshot};
use cablekey_gateway_controller::escrow::{keyfile, EscrowStore, TimeRange};
use cablekey_gateway_controller::registry::Kind;
use cablekey_gateway_controller::service::{self, Metrics, Running, Settings};
use cablekey_gateway_controller::KeyMode;
use cablekey_protocol::escrow::open;
use cablekey_protocol::secret::{Fingerprint, SecretBytes};
use clap::{Args, ValueEnum};

use super::controller::wait_for_stop;

mod pstn;
mod warrant;

/// The caller sends this tone, the called party the other one.
const CALLER_HZ: f64 = 1000.0;
const CALLEE_HZ: f64 = 440.0;
/// Each side must hear the other's tone this far above its own.
const MIN_DOMINANCE_DB: f64 = 20.0;
/// Any one step of a call (dial tone, ringing, answer) takes at most this.
const STEP_LIMIT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, ValueEnum)]
enum Keys {
    Random,
    Derived,
}

#[derive(Args)]
#[command(after_help = "\
Files: the escrow store in --data (default ./data), the lab's LE key pair
and the recordings in --dir (default ./lab); with --keys derived, a fresh
signaling session key per CTA in --dir/session-keys (mode 0600), given to
the controller and to that CTA, which derives each call key it places. With --keep-running the system
stays up after the calls: each CTA's console is a pseudo-terminal (path
printed) for manual calls; dial the numbers shown (2001, 2002, ...).")]
pub struct LabArgs {
    /// Simulated CTAs (one line each).
    #[arg(long, default_value_t = 4)]
    ctas: usize,
    /// Calls to place, up to ctas/2 at a time.
    #[arg(long, default_value_t = 6)]
    calls: usize,
    /// How long each call talks, in seconds.
    #[arg(long, default_value_t = 1.5)]
    talk: f64,
    /// Escrow store directory.
    #[arg(long, default_value = "./data")]
    data: PathBuf,
    /// The lab's LE key pair and the recordings.
    #[arg(long, default_value = "./lab")]
    dir: PathBuf,
    /// Where the controller listens.
    #[arg(long, default_value = "127.0.0.1:2727")]
    controller: SocketAddr,
    /// The first CTA's address; the next ones follow.
    #[arg(long, default_value = "127.0.0.20")]
    cta_base: IpAddr,
    /// How call keys are made: random, or derived from the caller's
    /// session key (the caller's CTA derives K; only the callee is sent it).
    #[arg(long, value_enum, default_value_t = Keys::Random)]
    keys: Keys,
    /// Relay every call's SRTP through this media gateway (osmo-mgw's MGCP
    /// address; endpoints rtpbridge/*@mgw). It never gets a key.
    #[arg(long, value_name = "ADDR")]
    anchor: Option<SocketAddr>,
    /// Leave everything running for manual calls (Ctrl-C ends it).
    #[arg(long)]
    keep_running: bool,
    /// Share of MGCP datagrams lost between each CTA and the controller
    /// (both ways), to watch retransmission at work.
    #[arg(long, default_value_t = 0.0)]
    signaling_loss: f64,
    /// Share of MGCP datagrams delivered twice (at-most-once at work).
    #[arg(long, default_value_t = 0.0)]
    signaling_dup: f64,
    /// Calls with the telephone network through the POTS gateway, after
    /// the CTA calls: alternately from a CTA to the network (dialing
    /// 915551234567, trunk route 9) and from the network to a CTA. 0: no
    /// gateway.
    #[arg(long, default_value_t = 2)]
    pstn_calls: usize,
    /// No warrant: without it the lab runs a CALEA server on the
    /// controller's address, provisions a warrant for the first CTA's
    /// number over the LI API (mutual TLS, a CA made for the run) and
    /// checks the case delivered under <dir>/cases/.
    #[arg(long)]
    no_warrant: bool,
    /// The warrant's target number (default: the first CTA's, 2001). The
    /// check fails if none of the target's calls was intercepted.
    #[arg(long, value_name = "NUMBER", conflicts_with = "no_warrant")]
    warrant_target: Option<String>,
}

pub fn run(args: LabArgs) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cablekey lab: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(lab(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("cablekey lab: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn number(i: usize) -> String {
    format!("{}", 2001 + i)
}

fn endpoint(i: usize) -> String {
    format!("aaln/1@cta{}.lab", i + 1)
}

/// The POTS gateway's domain and trunks, and the number CTAs call it on.
const GATEWAY_DOMAIN: &str = "gw1.lab";
const TRUNKS: usize = 2;
const PSTN_NUMBER: &str = "915551234567";

/// What one call showed.
struct CallReport {
    /// Who called whom: caller and callee numbers, `PSTN` for the network.
    parties: (String, String),
    call_id: String,
    /// Last digit to ringing, as the caller's CTA saw it.
    setup: Duration,
    /// The key fingerprints the two CTAs installed.
    keys: (Fingerprint, Fingerprint),
    /// Whether each CTA derived its key itself (never received it).
    derived: (bool, bool),
    /// With derived keys the caller derives K and only the callee gets it.
    want_derived: bool,
    /// The fingerprint of the key opened from escrow.
    escrowed: Result<Fingerprint, String>,
    /// Caller's tone heard by the callee, and the reverse, in dB.
    heard: (f64, f64),
}

impl CallReport {
    fn ok(&self) -> bool {
        self.keys.0 == self.keys.1
            && self.derived == (self.want_derived, false)
            && self.escrowed.as_ref().is_ok_and(|fp| *fp == self.keys.0)
            && self.heard.0 >= MIN_DOMINANCE_DB
            && self.heard.1 >= MIN_DOMINANCE_DB
    }
}

async fn lab(args: LabArgs) -> anyhow::Result<bool> {
    ensure!(args.ctas >= 2, "--ctas must be at least 2");
    ensure!(args.ctas <= 200, "--ctas is at most 200");
    ensure!(
        (0.5..=60.0).contains(&args.talk),
        "--talk is 0.5 to 60 seconds"
    );
    let (private, public) = lab_keys(&args.dir)?;
    let wav_dir = args.dir.join("wav");
    std::fs::create_dir_all(&wav_dir).with_context(|| format!("creating {}", wav_dir.display()))?;

    let mut settings = Settings::new(args.controller, args.data.clone(), public);
    settings.core.key_mode = match args.keys {
        Keys::Random => KeyMode::Random,
        Keys::Derived => KeyMode::Derived,
    };
    if let Some(mgw) = args.anchor {
        settings.core.anchor = Some(cablekey_gateway_controller::Anchor::new(mgw, "mgw")?);
    }
    for i in 0..args.ctas {
        settings
            .registry
            .add(&endpoint(i), Kind::Line, Some(&number(i)), None)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if args.pstn_calls > 0 {
        let trunks: Vec<String> = (0..TRUNKS)
            .map(|i| cablekey_pots_gateway::trunk_name(GATEWAY_DOMAIN, i))
            .collect();
        for t in &trunks {
            settings
                .registry
                .add(t, Kind::Trunk, None, None)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let names: Vec<&str> = trunks.iter().map(String::as_str).collect();
        settings
            .registry
            .add_trunk_route("9", &names)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let session_keys = match args.keys {
        Keys::Derived => session_keys(&args, &mut settings)?,
        Keys::Random => Vec::new(),
    };
    let prepared = match args.no_warrant {
        true => None,
        false => Some(warrant::prepare(
            &args.dir,
            args.controller.ip(),
            args.warrant_target.as_deref().unwrap_or(&number(0)),
            &mut settings,
        )?),
    };
    let started_ms = cablekey_gateway_controller::escrow::unix_ms();
    let ctrl = service::start(settings, Duration::from_secs(5)).await?;
    let (ctas, proxies) = match start_ctas(&args, ctrl.addr, session_keys).await {
        Ok(c) => c,
        Err(e) => {
            ctrl.shutdown(Duration::from_secs(1)).await;
            return Err(e);
        }
    };
    println!(
        "controller {} ({} keys), {} CTAs registered, escrow store {}",
        ctrl.addr,
        settings_mode(args.keys),
        ctas.len(),
        args.data.display()
    );

    let calea = match (&prepared, ctrl.li_addr) {
        (Some(p), Some(li)) => {
            let key = args.dir.join("le-private.key");
            match warrant::start(p, li, &args.dir, &key).await {
                Ok(c) => Some(c),
                Err(e) => {
                    stop_all(ctas, ctrl).await;
                    return Err(e.context("starting the lab's CALEA server"));
                }
            }
        }
        _ => None,
    };
    let gateway = match start_gateway(&args, ctrl.addr).await {
        Ok(g) => g,
        Err(e) => {
            stop_all(ctas, ctrl).await;
            return Err(e);
        }
    };
    let result = match place_all(&args, &ctas, &wav_dir).await {
        Ok(mut r) => match &gateway {
            Some(gw) => pstn::place_all(&args, &ctas, gw, &wav_dir).await.map(|p| {
                r.extend(p);
                r
            }),
            None => Ok(r),
        },
        Err(e) => Err(e),
    };
    if let Some(gw) = gateway {
        gw.stop().await;
    }
    let mut reports = match result {
        Ok(r) => r,
        Err(e) => {
            stop_all(ctas, ctrl).await;
            return Err(e);
        }
    };
    let stored = check_escrow(&ctrl, &private, started_ms, &mut reports).await;
    print_table(&reports, &ctrl.metrics, &stored);
    if !proxies.is_empty() {
        let sum = |f: fn(&Tally) -> &std::sync::atomic::AtomicU64| -> u64 {
            proxies.iter().map(|p| Tally::get(f(&p.tally))).sum()
        };
        println!(
            "signaling impaired: {} datagrams forwarded, {} dropped, {} duplicated",
            sum(|t| &t.forwarded),
            sum(|t| &t.dropped),
            sum(|t| &t.duplicated)
        );
    }
    let intercepted = match calea {
        Some(c) => {
            let calls: Vec<_> = reports
                .iter()
                .map(|r| warrant::LabCall {
                    call_id: &r.call_id,
                    caller: &r.parties.0,
                    callee: &r.parties.1,
                })
                .collect();
            c.verdict(&calls).await.unwrap_or_else(|e| {
                println!("warrant: FAILED: {e:#}");
                false
            })
        }
        None => true,
    };
    let ok = reports.len() == args.calls + args.pstn_calls
        && reports.iter().all(CallReport::ok)
        && stored == Ok(reports.len())
        && intercepted;
    println!(
        "{}",
        if ok {
            "lab: all calls passed"
        } else {
            "lab: FAILED"
        }
    );

    if args.keep_running {
        println!("\nthe system stays up; Ctrl-C ends it. Numbers and consoles:");
        for (i, cta) in ctas.iter().enumerate() {
            let console = cta
                .console
                .as_ref()
                .map_or("none".into(), |p| p.display().to_string());
            println!("  {}  {}  console {console}", number(i), endpoint(i));
        }
        wait_for_stop().await;
    }
    stop_all(ctas, ctrl).await;
    Ok(ok)
}

fn settings_mode(k: Keys) -> &'static str {
    match k {
        Keys::Random => "random",
        Keys::Derived => "derived",
    }
}

/// The lab's LE key pair, made on first use. The private half stands in
/// for the CALEA server's.
fn lab_keys(dir: &Path) -> anyhow::Result<(cablekey_protocol::escrow::LePrivateKey, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (private, public) = (dir.join("le-private.key"), dir.join("le-public.key"));
    if !private.exists() && !public.exists() {
        keyfile::generate_keypair(&private, &public)?;
    }
    let sk = keyfile::load_private_key(&private)?;
    let pk = keyfile::load_public_key(&public)?;
    ensure!(
        sk.public().key_id() == pk.key_id(),
        "{} and {} are not one key pair",
        private.display(),
        public.display()
    );
    Ok((sk, public))
}

/// A fresh session key per CTA from the OS generator, as registration
/// would establish it: one copy to the controller's registry, one returned
/// for the CTA. Also written (mode 0600, replacing the last run's) to
/// `<dir>/session-keys/<domain>.session`, the controller's
/// `session_key_file` format, so the run can be checked afterwards.
fn session_keys(args: &LabArgs, settings: &mut Settings) -> anyhow::Result<Vec<SecretBytes>> {
    let dir = args.dir.join("session-keys");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut keys = Vec::new();
    for i in 0..args.ctas {
        let path = dir.join(format!("cta{}.lab.session", i + 1));
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", path.display()))
            }
            _ => {}
        }
        let key = keyfile::generate_session_key(&path)?;
        settings
            .registry
            .set_session_key(&endpoint(i), key.duplicate())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        keys.push(key);
    }
    Ok(keys)
}

/// Starts the CTAs, each behind an impairing proxy if asked and with its
/// session key if given, and waits for their registration.
async fn start_ctas(
    args: &LabArgs,
    controller: SocketAddr,
    session_keys: Vec<SecretBytes>,
) -> anyhow::Result<(Vec<Cta>, Vec<Proxy>)> {
    let mut session_keys = session_keys.into_iter();
    let mut ctas = Vec::new();
    let mut proxies = Vec::new();
    let impaired = args.signaling_loss > 0.0 || args.signaling_dup > 0.0;
    for (i, addr) in sim::addresses(args.cta_base, 2427, args.ctas)
        .into_iter()
        .enumerate()
    {
        let call_agent = if impaired {
            let imp = Impairment {
                loss: args.signaling_loss,
                duplicate: args.signaling_dup,
                reorder: 0.0,
                seed: 1 + i as u64,
            };
            let proxy = Proxy::start(SocketAddr::new(controller.ip(), 0), controller, imp)
                .await
                .context("starting a signaling proxy")?;
            let at = proxy.addr;
            proxies.push(proxy);
            at
        } else {
            controller
        };
        let mut config = sim::Config::new(&format!("cta{}.lab", i + 1), addr, call_agent);
        config.console = args.keep_running;
        config.rtp_base_port = 16384;
        config.session_key = session_keys.next();
        let cta = Cta::start(config)
            .await
            .with_context(|| format!("starting CTA {} on {addr}", i + 1))?;
        ctas.push(cta);
    }
    for (i, cta) in ctas.iter().enumerate() {
        wait_for(cta, Duration::from_secs(10), |s| s.registered)
            .await
            .with_context(|| format!("CTA {} did not register", i + 1))?;
    }
    Ok((ctas, proxies))
}

/// The POTS gateway on the address after the last CTA's, with the network
/// answering after 300 ms; `None` without PSTN calls.
async fn start_gateway(
    args: &LabArgs,
    controller: SocketAddr,
) -> anyhow::Result<Option<cablekey_pots_gateway::sim::PotsGateway>> {
    use cablekey_pots_gateway::sim::{Config, PotsGateway};
    if args.pstn_calls == 0 {
        return Ok(None);
    }
    let addr = sim::addresses(args.cta_base, 2427, args.ctas + 1)[args.ctas];
    let mut config = Config::new(GATEWAY_DOMAIN, addr, controller);
    config.trunks = TRUNKS;
    config.console = args.keep_running;
    let gw = PotsGateway::start(config)
        .await
        .with_context(|| format!("starting the POTS gateway on {addr}"))?;
    ensure!(
        gw.registered(Duration::from_secs(10)).await,
        "the POTS gateway did not register"
    );
    Ok(Some(gw))
}

async fn stop_all(ctas: Vec<Cta>, ctrl: Running) {
    for cta in ctas {
        cta.stop().await;
    }
    ctrl.shutdown(Duration::from_secs(5)).await;
}

/// Polls `cta` until `done` holds.
async fn wait_for(
    cta: &Cta,
    limit: Duration,
    done: impl Fn(&Snapshot) -> bool,
) -> anyhow::Result<Snapshot> {
    let until = Instant::now() + limit;
    loop {
        let Some(s) = cta.snapshot().await else {
            bail!("the CTA stopped");
        };
        if done(&s) {
            return Ok(s);
        }
        if Instant::now() >= until {
            bail!("gave up after {limit:?} (phases {:?})", s.phases);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn say(cta: &Cta, command: &str) -> anyhow::Result<()> {
    let answer = cta.command(command).await;
    ensure!(answer.starts_with("ok"), "{command}: {answer}");
    Ok(())
}

/// Places the calls, up to ctas/2 at once on disjoint pairs.
async fn place_all(
    args: &LabArgs,
    ctas: &[Cta],
    wav_dir: &Path,
) -> anyhow::Result<Vec<CallReport>> {
    let pairs = ctas.len() / 2;
    let mut reports = Vec::new();
    let mut n = 0;
    while n < args.calls {
        let round: Vec<_> = (0..pairs.min(args.calls - n))
            .map(|p| {
                let (caller, callee) = if (n / pairs) % 2 == 0 {
                    (2 * p, 2 * p + 1)
                } else {
                    (2 * p + 1, 2 * p)
                };
                let derived = matches!(args.keys, Keys::Derived);
                call(ctas, (caller, callee), n + p, args.talk, wav_dir, derived)
            })
            .collect();
        for r in futures_util::future::join_all(round).await {
            reports.push(r?);
        }
        n += pairs.min(args.calls - n);
    }
    Ok(reports)
}

/// One call: tones both ways, recorded at both ends.
async fn call(
    ctas: &[Cta],
    (a, b): (usize, usize),
    k: usize,
    talk: f64,
    wav_dir: &Path,
    want_derived: bool,
) -> anyhow::Result<CallReport> {
    let (ca, cb) = (&ctas[a], &ctas[b]);
    let heard_by_a = wav_dir.join(format!("call{}-caller-hears.wav", k + 1));
    let heard_by_b = wav_dir.join(format!("call{}-callee-hears.wav", k + 1));
    say(ca, &format!("play tone {CALLER_HZ} 0.5")).await?;
    say(cb, &format!("play tone {CALLEE_HZ} 0.5")).await?;
    say(ca, &format!("record {}", heard_by_a.display())).await?;
    say(cb, &format!("record {}", heard_by_b.display())).await?;
    let phase = |p: Phase| move |s: &Snapshot| s.phases[0] == p;
    let step = |what: &'static str| move || format!("call {}: {what}", k + 1);

    say(ca, "offhook").await?;
    wait_for(ca, STEP_LIMIT, phase(Phase::DialTone))
        .await
        .with_context(step("no dial tone"))?;
    let dialed = Instant::now();
    say(ca, &format!("dial {}", number(b))).await?;
    wait_for(cb, STEP_LIMIT, phase(Phase::Ringing))
        .await
        .with_context(step("no ringing"))?;
    let setup = dialed.elapsed();
    say(cb, "offhook").await?;
    let keyed = |s: &Snapshot| {
        s.phases[0] == Phase::Connected && s.connections.iter().any(|c| c.key.is_some())
    };
    let sa = wait_for(ca, STEP_LIMIT, keyed)
        .await
        .with_context(step("caller not connected"))?;
    let sb = wait_for(cb, STEP_LIMIT, keyed)
        .await
        .with_context(step("callee not connected"))?;
    tokio::time::sleep(Duration::from_secs_f64(talk)).await;

    say(ca, "onhook").await?;
    say(cb, "onhook").await?;
    say(ca, "record stop").await?;
    say(cb, "record stop").await?;
    say(ca, "play stop").await?;
    say(cb, "play stop").await?;
    let idle = |s: &Snapshot| s.phases[0] == Phase::Idle && s.connections.is_empty();
    wait_for(ca, STEP_LIMIT, idle)
        .await
        .with_context(step("caller not released"))?;
    wait_for(cb, STEP_LIMIT, idle)
        .await
        .with_context(step("callee not released"))?;

    let conn = |s: &Snapshot| {
        s.connections
            .iter()
            .find_map(|c| Some((c.call_id.clone(), c.key?, c.derived)))
    };
    let (call_id, key_a, derived_a) = conn(&sa).context("caller has no key")?;
    let (_, key_b, derived_b) = conn(&sb).context("callee has no key")?;
    Ok(CallReport {
        parties: (number(a), number(b)),
        call_id,
        setup,
        keys: (key_a, key_b),
        derived: (derived_a, derived_b),
        want_derived,
        escrowed: Err("not checked".into()),
        heard: (
            heard(&heard_by_b, CALLER_HZ, CALLEE_HZ)?,
            heard(&heard_by_a, CALLEE_HZ, CALLER_HZ)?,
        ),
    })
}

/// How far `want` stands above `own` in a recording, after its first
/// 300 ms (the jitter buffer filling).
fn heard(path: &Path, want: f64, own: f64) -> anyhow::Result<f64> {
    let pcm = wav::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let skip = 2400.min(pcm.len());
    Ok(tone::dominance_db(&pcm[skip..], want, own))
}

/// Opens each call's escrow record with the LE private key; returns how
/// many records the store holds for calls since the lab started.
async fn check_escrow(
    ctrl: &Running,
    sk: &cablekey_protocol::escrow::LePrivateKey,
    since_ms: u64,
    reports: &mut [CallReport],
) -> Result<usize, String> {
    let store = ctrl.escrow.store();
    for r in reports.iter_mut() {
        r.escrowed = async {
            let record = store
                .get(&r.call_id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("no record")?;
            let epoch = store
                .epoch(record.sealed.epoch)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("no epoch record")?;
            let key = open(sk, &epoch, &record).map_err(|e| e.to_string())?;
            Ok(key.fingerprint())
        }
        .await;
    }
    let range = TimeRange {
        from_ms: since_ms,
        to_ms: u64::MAX,
    };
    store
        .by_time(range)
        .await
        .map(|v| v.len())
        .map_err(|e| e.to_string())
}

/// A tone's margin over the other; the other tone can be absent
/// altogether (a perfect channel), which has no meaningful figure.
fn db(margin: f64) -> String {
    if margin > 90.0 {
        "> 90 dB".into()
    } else {
        format!("{margin:.1} dB")
    }
}

fn print_table(reports: &[CallReport], m: &Metrics, stored: &Result<usize, String>) {
    println!(
        "\n{:>4}  {:<11}  {:<16}  {:>9}  {:<20}  {:<8}  {:<8}  {:>9}  {:>9}  result",
        "call",
        "from -> to",
        "call id",
        "setup",
        "key (both ends)",
        "A's key",
        "escrow",
        "A hears",
        "B hears"
    );
    for (i, r) in reports.iter().enumerate() {
        let key = if r.keys.0 == r.keys.1 {
            r.keys.0.to_string()
        } else {
            "DIFFERENT".into()
        };
        let escrow = match &r.escrowed {
            Ok(fp) if *fp == r.keys.0 => "opened".to_string(),
            Ok(_) => "WRONG KEY".into(),
            Err(e) => format!("ERROR: {e}"),
        };
        // How the caller got K: derived itself, or received in `k:`.
        let origin = match r.derived {
            (true, false) => "derived",
            (false, false) => "received",
            _ => "WRONG",
        };
        println!(
            "{:>4}  {:<11}  {:<16}  {:>6.1} ms  {:<20}  {:<8}  {:<8}  {:>9}  {:>9}  {}",
            i + 1,
            format!("{}->{}", r.parties.0, r.parties.1),
            r.call_id,
            r.setup.as_secs_f64() * 1e3,
            key,
            origin,
            escrow,
            db(r.heard.1),
            db(r.heard.0),
            if r.ok() { "ok" } else { "FAILED" }
        );
    }
    let ms =
        |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3));
    println!(
        "\ncalls {} connected {} refused {} | keys escrowed {} (store holds {}) | escrow p50 {} p99 {} | setup p50 {} p99 {}",
        reports.len(),
        Metrics::get(&m.calls_connected),
        Metrics::get(&m.calls_refused),
        Metrics::get(&m.keys_escrowed),
        stored.as_ref().map_or_else(|e| format!("error: {e}"), |n| n.to_string()),
        ms(m.escrow_latency.quantile(0.5)),
        ms(m.escrow_latency.quantile(0.99)),
        ms(m.setup_latency.quantile(0.5)),
        ms(m.setup_latency.quantile(0.99)),
    );
}
