//! The lab's calls with the telephone network: a CTA calling out through
//! the POTS gateway, and the network calling a CTA (reverse origination).
//! The caller plays the caller's tone and the called side the other, at
//! the CTA and on the trunk's network side alike.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use cablekey_cta_firmware::line::Phase;
use cablekey_cta_firmware::sim::{Cta, Snapshot};
use cablekey_pots_gateway::sim::PotsGateway;
use cablekey_protocol::secret::Fingerprint;

use super::{
    heard, number, say, wait_for, CallReport, Keys, LabArgs, CALLEE_HZ, CALLER_HZ, PSTN_NUMBER,
    STEP_LIMIT, TRUNKS,
};

/// Alternately out to the network from CTA 1 and in from the network to
/// CTA 2, one at a time.
pub(super) async fn place_all(
    args: &LabArgs,
    ctas: &[Cta],
    gw: &PotsGateway,
    wav_dir: &Path,
) -> anyhow::Result<Vec<CallReport>> {
    let derived = matches!(args.keys, Keys::Derived);
    let mut reports = Vec::new();
    for j in 0..args.pstn_calls {
        let k = args.calls + j;
        let r = if j % 2 == 0 {
            out(&ctas[0], 0, gw, k, args.talk, wav_dir, derived).await
        } else {
            inbound(&ctas[1], 1, gw, k, args.talk, wav_dir).await
        };
        reports.push(r.with_context(|| format!("call {} (PSTN)", k + 1))?);
    }
    Ok(reports)
}

/// The key and call id of line `line`'s connection, and whether it was derived.
fn keyed(s: &Snapshot, line: usize) -> Option<(String, Fingerprint, bool)> {
    s.connections
        .iter()
        .filter(|c| c.line == line)
        .find_map(|c| Some((c.call_id.clone(), c.key?, c.derived)))
}

fn connected(line: usize) -> impl Fn(&Snapshot) -> bool {
    move |s| s.phases.get(line) == Some(&Phase::Connected) && keyed(s, line).is_some()
}

fn released(line: usize) -> impl Fn(&Snapshot) -> bool {
    move |s| {
        s.phases.get(line) == Some(&Phase::Idle) && s.connections.iter().all(|c| c.line != line)
    }
}

/// Every trunk plays `hz` and records to `call<k>-trunk<t>-hears.wav`.
async fn trunk_audio(gw: &PotsGateway, k: usize, hz: f64, wav_dir: &Path) -> anyhow::Result<()> {
    for t in 1..=TRUNKS {
        say(gw.cta(), &format!("play tone {hz} 0.5 line {t}")).await?;
        let rec = trunk_recording(wav_dir, k, t - 1);
        say(gw.cta(), &format!("record {} line {t}", rec.display())).await?;
    }
    Ok(())
}

async fn trunk_audio_stop(gw: &PotsGateway) -> anyhow::Result<()> {
    for t in 1..=TRUNKS {
        say(gw.cta(), &format!("record stop line {t}")).await?;
        say(gw.cta(), &format!("play stop line {t}")).await?;
    }
    Ok(())
}

/// After a call on trunk `t`: audio stopped at both ends; the call id and
/// the (key, derived) of the CTA's and of the trunk's connection, as the
/// snapshots taken in the call (CTA, gateway) showed them.
async fn close(
    cta: &Cta,
    gw: &PotsGateway,
    (sc, st): (&Snapshot, &Snapshot),
    t: usize,
) -> anyhow::Result<(String, (Fingerprint, bool), (Fingerprint, bool))> {
    say(cta, "record stop").await?;
    say(cta, "play stop").await?;
    trunk_audio_stop(gw).await?;
    let (call_id, key_c, derived_c) = keyed(sc, 0).context("the CTA has no key")?;
    let (id_t, key_t, derived_t) = keyed(st, t).context("the trunk has no key")?;
    ensure!(
        id_t == call_id,
        "the CTA and the trunk are in different calls"
    );
    Ok((call_id, (key_c, derived_c), (key_t, derived_t)))
}

fn trunk_recording(wav_dir: &Path, k: usize, trunk: usize) -> PathBuf {
    wav_dir.join(format!("call{}-trunk{}-hears.wav", k + 1, trunk + 1))
}

/// CTA `i` dials the network; the first trunk carries it, the network
/// answers by itself; the CTA hangs up and the trunk is cleared back.
async fn out(
    cta: &Cta,
    i: usize,
    gw: &PotsGateway,
    k: usize,
    talk: f64,
    wav_dir: &Path,
    want_derived: bool,
) -> anyhow::Result<CallReport> {
    let cta_hears = wav_dir.join(format!("call{}-caller-hears.wav", k + 1));
    say(cta, &format!("play tone {CALLER_HZ} 0.5")).await?;
    say(cta, &format!("record {}", cta_hears.display())).await?;
    trunk_audio(gw, k, CALLEE_HZ, wav_dir).await?;
    say(cta, "offhook").await?;
    wait_for(cta, STEP_LIMIT, |s| s.phases[0] == Phase::DialTone)
        .await
        .context("no dial tone")?;
    let dialed = Instant::now();
    say(cta, &format!("dial {PSTN_NUMBER}")).await?;
    // Trunks are taken in order and every earlier call has released its own.
    let t = 0;
    let alerted = |s: &Snapshot| matches!(s.phases[t], Phase::Ringing | Phase::Connected);
    wait_for(gw.cta(), STEP_LIMIT, alerted)
        .await
        .context("the trunk was not alerted")?;
    let setup = dialed.elapsed();
    let st = wait_for(gw.cta(), STEP_LIMIT, connected(t))
        .await
        .context("the trunk did not connect")?;
    let sc = wait_for(cta, STEP_LIMIT, connected(0))
        .await
        .context("the CTA did not connect")?;
    tokio::time::sleep(Duration::from_secs_f64(talk)).await;
    say(cta, "onhook").await?;
    wait_for(gw.cta(), STEP_LIMIT, released(t))
        .await
        .context("the trunk was not cleared back")?;
    wait_for(cta, STEP_LIMIT, released(0))
        .await
        .context("the CTA was not released")?;
    let (call_id, (key_a, derived_a), (key_t, derived_t)) = close(cta, gw, (&sc, &st), t).await?;
    Ok(CallReport {
        parties: (number(i), "PSTN".into()),
        call_id,
        setup,
        keys: (key_a, key_t),
        derived: (derived_a, derived_t),
        want_derived,
        escrowed: Err("not checked".into()),
        heard: (
            heard(&trunk_recording(wav_dir, k, t), CALLER_HZ, CALLEE_HZ)?,
            heard(&cta_hears, CALLEE_HZ, CALLER_HZ)?,
        ),
    })
}

/// The network calls CTA `i`: a trunk is seized and the number
/// outpulsed; the CTA answers; the network hangs up.
async fn inbound(
    cta: &Cta,
    i: usize,
    gw: &PotsGateway,
    k: usize,
    talk: f64,
    wav_dir: &Path,
) -> anyhow::Result<CallReport> {
    let cta_hears = wav_dir.join(format!("call{}-callee-hears.wav", k + 1));
    say(cta, &format!("play tone {CALLEE_HZ} 0.5")).await?;
    say(cta, &format!("record {}", cta_hears.display())).await?;
    trunk_audio(gw, k, CALLER_HZ, wav_dir).await?;
    let seized = Instant::now();
    let t = gw
        .call(&number(i))
        .await
        .map_err(anyhow::Error::msg)
        .context("the network could not seize a trunk")?;
    wait_for(cta, STEP_LIMIT, |s| s.phases[0] == Phase::Ringing)
        .await
        .context("the CTA did not ring")?;
    let setup = seized.elapsed();
    say(cta, "offhook").await?;
    let sc = wait_for(cta, STEP_LIMIT, connected(0))
        .await
        .context("the CTA did not connect")?;
    let st = wait_for(gw.cta(), STEP_LIMIT, connected(t))
        .await
        .context("the trunk did not connect")?;
    tokio::time::sleep(Duration::from_secs_f64(talk)).await;
    gw.hang_up(t).await.map_err(anyhow::Error::msg)?;
    wait_for(gw.cta(), STEP_LIMIT, released(t))
        .await
        .context("the trunk was not released")?;
    wait_for(cta, STEP_LIMIT, |s| s.connections.is_empty())
        .await
        .context("the CTA's connection was not deleted")?;
    say(cta, "onhook").await?;
    wait_for(cta, STEP_LIMIT, released(0))
        .await
        .context("the CTA was not released")?;
    let (call_id, (key_c, derived_c), (key_t, derived_t)) = close(cta, gw, (&sc, &st), t).await?;
    Ok(CallReport {
        parties: ("PSTN".into(), number(i)),
        call_id,
        setup,
        keys: (key_t, key_c),
        derived: (derived_t, derived_c),
        // A trunk shares no session key: K is random, sent to both ends.
        want_derived: false,
        escrowed: Err("not checked".into()),
        heard: (
            heard(&cta_hears, CALLER_HZ, CALLEE_HZ)?,
            heard(&trunk_recording(wav_dir, k, t), CALLEE_HZ, CALLER_HZ)?,
        ),
    })
}
