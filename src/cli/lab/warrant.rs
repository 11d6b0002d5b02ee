//! `cablekey lab`'s warrant: a CALEA server in the lab's process, on the
//! controller's address. A head-end CA made for the run issues the
//! controller's LI certificate and the CALEA server's client certificate;
//! the warrant for one target number is provisioned as a task over the LI
//! API (mutual TLS), its records come through a future-mode stream, and
//! the collector receives the media copies the controller arranges. At the
//! end the case is delivered under `<lab dir>/cases/<case id>/` and each
//! of the target's calls must be there with both parties' tones, and no
//! other call.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cablekey_calea_server::collect::{self, CaseSummary};
use cablekey_calea_server::li_client::{Client, Conn, KeyQuery};
use cablekey_calea_server::records::RecordStore;
use cablekey_calea_server::warrant::{Warrant, WarrantBook};
use cablekey_calea_server::{clock, deliver, intake};
use cablekey_cta_firmware::sim::{tone, wav};
use cablekey_gateway_controller::li::clients::ClientId;
use cablekey_gateway_controller::li::LiSettings;
use cablekey_gateway_controller::service::Settings;
use cablekey_protocol::li::{Line, Mode, TaskSpec};
use tokio::task::JoinHandle;

use super::super::ca;
use super::{db, CALLEE_HZ, CALLER_HZ, MIN_DOMINANCE_DB};

/// Longest the collector runs, whatever happens to the lab.
const COLLECT_LIMIT: Duration = Duration::from_secs(3600);

/// The files of the run's CA and LI service, under `<lab dir>/li/`.
pub struct Prepared {
    li_dir: PathBuf,
    ip: IpAddr,
    target: String,
}

impl Prepared {
    fn conn(&self, controller: SocketAddr) -> Conn {
        let ca = self.li_dir.join("ca");
        Conn {
            controller,
            server_name: None,
            ca_cert: ca.join("ca.crt"),
            identity: Some((ca.join("calea.crt"), ca.join("calea.key"))),
        }
    }
}

/// Before the controller starts: a fresh CA (the last run's is removed),
/// the controller's server certificate for `ip`, the CALEA server's client
/// certificate, and the controller's `[li]` settings (an ephemeral port).
pub fn prepare(
    lab_dir: &Path,
    ip: IpAddr,
    target: &str,
    settings: &mut Settings,
) -> anyhow::Result<Prepared> {
    let li_dir = lab_dir.join("li");
    let ca_dir = li_dir.join("ca");
    match std::fs::remove_dir_all(&ca_dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", ca_dir.display()))
        }
        _ => {}
    }
    ca::init(&ca_dir, 2)?;
    ca::issue(&ca::IssueArgs::new(
        &ca_dir,
        "controller",
        vec![ip.to_string()],
    ))?;
    ca::issue(&ca::IssueArgs::new(&ca_dir, "calea", Vec::new()))?;
    settings.li = Some(LiSettings {
        listen: SocketAddr::new(ip, 0),
        ca_cert: ca_dir.join("ca.crt"),
        cert: ca_dir.join("controller.crt"),
        key: ca_dir.join("controller.key"),
        audit_log: li_dir.join("audit.log"),
        allowed_clients: vec![ClientId::CommonName("calea".into())],
        revoked_clients: None,
    });
    Ok(Prepared {
        li_dir,
        ip,
        target: target.to_string(),
    })
}

/// The CALEA side while the calls run.
pub struct Calea {
    client: Client,
    pub case_id: String,
    pub target: String,
    pub cci: u32,
    stop: Arc<AtomicBool>,
    collecting: std::thread::JoinHandle<anyhow::Result<Vec<CaseSummary>>>,
    follow: JoinHandle<anyhow::Result<u64>>,
}

/// After the controller started: the warrant, provisioned over the LI API
/// at `li`; the future-mode stream into the record store; the collector.
pub async fn start(
    p: &Prepared,
    li: SocketAddr,
    lab_dir: &Path,
    le_private: &Path,
) -> anyhow::Result<Calea> {
    let data_dir = lab_dir.join("calea-data");
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let sock = UdpSocket::bind(SocketAddr::new(p.ip, 0)).context("binding the collector")?;
    let collector = sock.local_addr()?;
    let now = clock::now();
    let case_id = format!("LAB-{now}");
    let mut book = WarrantBook::load(&data_dir)?;
    book.add(Warrant {
        case_id: case_id.clone(),
        target: p.target.clone(),
        start_unix_ms: now.saturating_sub(60_000),
        end_unix_ms: now + 24 * 3_600_000,
        modes: vec![Mode::Future, Mode::Current],
        collector,
        cci: None,
        revoked_unix_ms: None,
    })?;
    let w = book.get(&case_id)?.clone();
    let client = Client::new(&p.conn(li))?;
    let task = client
        .provision(&TaskSpec {
            case_id: case_id.clone(),
            target: w.target.clone(),
            start_unix_ms: w.start_unix_ms,
            end_unix_ms: w.end_unix_ms,
            modes: w.modes.clone(),
            collector: collector.to_string(),
            cci: None,
        })
        .await
        .context("provisioning the warrant's task over the LI API")?;
    let cci = task
        .cci
        .context("the controller's task has no call-content identifier")?;
    book.set_cci(&case_id, cci)?;
    println!(
        "warrant: case {case_id} for {} provisioned over the LI API at {li} (mutual TLS), es-cci {cci:08X}, collector {collector}",
        w.target
    );

    // Future mode: the record of each of the target's calls, as it is set up.
    let mut lines = client
        .keys(&KeyQuery {
            case_id: case_id.clone(),
            mode: Mode::Future,
            target: w.target.clone(),
            window: None,
        })
        .await
        .context("opening the future-mode stream")?;
    let store = RecordStore::open(&data_dir)?;
    let target = w.target.clone();
    let follow = tokio::spawn(async move {
        let mut stored = 0;
        while let Some(line) = lines.next().await? {
            if let Line::Record(d) = line {
                let r = intake::check(&d, &target, None)?;
                intake::store(&store, &r)?;
                stored += 1;
            }
        }
        anyhow::Ok(stored)
    });

    let stop = Arc::new(AtomicBool::new(false));
    let (flag, key, case, out_root) = (
        stop.clone(),
        le_private.to_path_buf(),
        case_id.clone(),
        lab_dir.join("cases"),
    );
    let collecting = std::thread::spawn(move || {
        let sk = cablekey_keyfile::load_private_key(&key)?;
        let c = collect::Collector::open(&collect::Request {
            data_dir: &data_dir,
            case_id: Some(&case),
            le_key: &sk,
            out_root,
            listen: collector,
        })?;
        let until = Instant::now() + COLLECT_LIMIT;
        Ok(collect::run(&sock, c, &flag, Some(until))?)
    });
    Ok(Calea {
        client,
        case_id,
        target: w.target,
        cci,
        stop,
        collecting,
        follow,
    })
}

/// One call of the lab as the warrant check sees it.
pub struct LabCall<'a> {
    pub call_id: &'a str,
    pub caller: &'a str,
    pub callee: &'a str,
}

impl Calea {
    /// Stops collecting (after the last copies are in), delivers the case,
    /// revokes the task and ends the stream. Returns the delivery.
    pub async fn finish(self) -> anyhow::Result<(CaseSummary, u64)> {
        tokio::time::sleep(Duration::from_millis(600)).await;
        self.stop.store(true, Ordering::SeqCst);
        let collecting = self.collecting;
        let cases = tokio::task::spawn_blocking(move || collecting.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the collector panicked"))??;
        let revoked = self.client.revoke(&self.case_id).await;
        // The stream ends with the revocation; it is not waited for long.
        let follow = tokio::time::timeout(Duration::from_secs(5), self.follow).await;
        revoked.context("revoking the lab's task")?;
        let records = match follow {
            Ok(Ok(r)) => r.context("the future-mode stream")?,
            Ok(Err(e)) => bail!("the future-mode stream: {e}"),
            Err(_) => bail!("the future-mode stream did not end on revocation"),
        };
        let case = cases
            .into_iter()
            .find(|c| c.report.case_id == self.case_id)
            .context("the collector delivered no case")?;
        Ok((case, records))
    }
}

impl Calea {
    /// [`Self::finish`], then [`check`]: whether the interception passed.
    pub async fn verdict(self, calls: &[LabCall<'_>]) -> anyhow::Result<bool> {
        let (target, cci) = (self.target.clone(), self.cci);
        let (case, records) = self.finish().await?;
        Ok(check(&case, records, &target, cci, calls))
    }
}

/// Prints the delivery and checks it: every call of the target has a WAV
/// whose left channel (caller to callee) holds the caller's tone and whose
/// right channel the callee's, each at least [`MIN_DOMINANCE_DB`] over the
/// other; no other call was delivered; nothing was rejected.
pub fn check(
    case: &CaseSummary,
    records: u64,
    target: &str,
    cci: u32,
    calls: &[LabCall<'_>],
) -> bool {
    println!(
        "\nwarrant: case {} target {target} es-cci {cci:08X}: {} records by future-mode stream, delivered to {}",
        case.report.case_id,
        records,
        case.out.display()
    );
    let mut files = case.files.clone();
    files.sort();
    println!("  files: {}", files.join(" "));
    let n = &case.report.counts;
    let mut ok = n.rejected == 0 && n.outside_warrant == 0;
    println!(
        "  copies decrypted {}, rejected {}, outside the warrant {}",
        n.rtp_decrypted, n.rejected, n.outside_warrant
    );
    for c in calls {
        let wav_name = deliver::wav_name(c.call_id);
        let delivered = files.contains(&wav_name);
        let is_target = c.caller == target || c.callee == target;
        if !is_target {
            if delivered {
                println!(
                    "  {} {}->{}: NOT A TARGET CALL, DELIVERED",
                    c.call_id, c.caller, c.callee
                );
                ok = false;
            }
            continue;
        }
        let margins = delivered
            .then(|| channel_margins(&case.out.join(&wav_name)))
            .transpose();
        let (line, good) = match margins {
            Ok(Some((l, r))) => (
                format!("left (caller) {} right (callee) {}", db(l), db(r)),
                l >= MIN_DOMINANCE_DB && r >= MIN_DOMINANCE_DB,
            ),
            Ok(None) => ("NO WAV".into(), false),
            Err(e) => (format!("ERROR: {e}"), false),
        };
        ok &= good;
        println!(
            "  {} {}->{}: {wav_name}: {line}  {}",
            c.call_id,
            c.caller,
            c.callee,
            if good { "ok" } else { "FAILED" }
        );
    }
    let target_calls = calls
        .iter()
        .filter(|c| c.caller == target || c.callee == target)
        .count();
    if target_calls == 0 {
        println!("  none of the lab's calls was the target's: nothing was intercepted (FAILED)");
        ok = false;
    }
    if case.calls_with_audio != target_calls {
        println!("  calls with audio: {} (FAILED)", case.calls_with_audio);
        ok = false;
    }
    println!(
        "{}",
        if ok {
            "warrant: interception passed"
        } else {
            "warrant: FAILED"
        }
    );
    ok
}

/// The caller's tone over the callee's on the left channel, and the
/// reverse on the right, after the first 300 ms.
fn channel_margins(path: &Path) -> anyhow::Result<(f64, f64)> {
    let (l, r) = wav::read_stereo(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let skip = 2400.min(l.len()).min(r.len());
    Ok((
        tone::dominance_db(&l[skip..], CALLER_HZ, CALLEE_HZ),
        tone::dominance_db(&r[skip..], CALLEE_HZ, CALLER_HZ),
    ))
}
