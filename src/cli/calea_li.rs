//! `cablekey calea warrant push|withdraw`, `fetch`, `follow`, `tasks`: the
//! CALEA server as a client of the controller's LI API (docs/li.md).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use cablekey_calea_server::clock;
use cablekey_calea_server::intake;
use cablekey_calea_server::li_client::{Client, Conn, KeyQuery};
use cablekey_calea_server::records::{RecordStore, Stored};
use cablekey_calea_server::warrant::{Warrant, WarrantBook};
use cablekey_protocol::li::{Line, Mode, TaskSpec};
use clap::Args;

/// How to reach the controller's LI API and prove who we are.
#[derive(Args)]
pub struct LiArgs {
    /// The controller's LI API, ip:port.
    #[arg(long)]
    controller: SocketAddr,
    /// The head-end CA's certificate (the controller's must chain to it).
    #[arg(long, default_value = "ca/ca.crt")]
    ca_cert: PathBuf,
    /// Our client certificate, from `cablekey ca issue --client`.
    #[arg(long, default_value = "ca/calea.crt")]
    cert: PathBuf,
    /// Our key (mode 0600, else refused).
    #[arg(long, default_value = "ca/calea.key")]
    key: PathBuf,
    /// Name the controller's certificate carries (default: its IP address).
    #[arg(long)]
    server_name: Option<String>,
}

fn client(li: &LiArgs) -> anyhow::Result<Client> {
    Ok(Client::new(&Conn {
        controller: li.controller,
        server_name: li.server_name.clone(),
        ca_cert: li.ca_cert.clone(),
        identity: Some((li.cert.clone(), li.key.clone())),
    })?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Provisions a warrant as a task (idempotent: pushing it again is fine)
/// and records the task's call-content identifier in the warrant book.
pub fn push(data_dir: &Path, w: &Warrant, li: &LiArgs) -> anyhow::Result<()> {
    let spec = TaskSpec {
        case_id: w.case_id.clone(),
        target: w.target.clone(),
        start_unix_ms: w.start_unix_ms,
        end_unix_ms: w.end_unix_ms,
        modes: w.modes.clone(),
        collector: w.collector.to_string(),
        cci: w.cci,
    };
    let c = client(li)?;
    let task = runtime()?.block_on(c.provision(&spec))?;
    let cci = task
        .cci
        .context("the controller's task has no call-content identifier")?;
    WarrantBook::load(data_dir)?.set_cci(&w.case_id, cci)?;
    println!(
        "task for case {} provisioned on {} by {}, es-cci {cci:08X}",
        task.spec.case_id, li.controller, task.provisioned_by
    );
    Ok(())
}

pub fn withdraw(case: &str, li: &LiArgs) -> anyhow::Result<()> {
    let c = client(li)?;
    runtime()?.block_on(c.revoke(case))?;
    println!("task for case {case} revoked on {}", li.controller);
    Ok(())
}

pub fn tasks(li: &LiArgs) -> anyhow::Result<ExitCode> {
    let c = client(li)?;
    for t in runtime()?.block_on(c.list())? {
        let modes: Vec<&str> = t.spec.modes.iter().map(|m| m.name()).collect();
        let state = match t.revoked_unix_ms {
            Some(r) => format!("revoked {}", clock::rfc3339(r)),
            None => "active".into(),
        };
        let cci = t.cci.map_or("-".to_string(), |c| format!("{c:08X}"));
        println!(
            "{}\ttarget {}\t{} .. {}\t{}\tcci {cci}\t{state}",
            t.spec.case_id,
            t.spec.target,
            clock::rfc3339(t.spec.start_unix_ms),
            clock::rfc3339(t.spec.end_unix_ms),
            modes.join(",")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Historical, current or future (follow): records into the record store.
pub fn fetch(
    data_dir: &Path,
    case: &str,
    mode: Mode,
    from: Option<String>,
    to: Option<String>,
    li: &LiArgs,
) -> anyhow::Result<ExitCode> {
    let book = WarrantBook::load(data_dir)?;
    let w = book.active(case)?;
    if !w.modes.contains(&mode) {
        bail!(
            "case {case}: the warrant does not allow {} mode",
            mode.name()
        );
    }
    let window = match mode {
        Mode::Historical => {
            let from = match from {
                Some(t) => clock::parse_rfc3339(&t).context("--from")?,
                None => w.start_unix_ms,
            };
            let to = match to {
                Some(t) => clock::parse_rfc3339(&t).context("--to")?,
                None => (clock::now() + 1).min(w.end_unix_ms + 1),
            };
            Some((from, to))
        }
        _ => None,
    };
    let store = RecordStore::open(data_dir)?;
    let c = client(li)?;
    let q = KeyQuery {
        case_id: case.to_string(),
        mode,
        target: w.target.clone(),
        window,
    };
    let mut problems = 0;
    let (stored, new) = runtime()?.block_on(async {
        let mut lines = c.keys(&q).await?;
        if mode == Mode::Future {
            println!("following case {case} (target {})", w.target);
        }
        let (mut stored, mut new) = (0u64, 0u64);
        while let Some(line) = lines.next().await? {
            match line {
                Line::Record(d) => match intake::check(&d, &w.target, window)
                    .and_then(|r| intake::store(&store, &r).map(|s| (r, s)))
                {
                    Ok((r, s)) => {
                        stored += 1;
                        new += u64::from(s == Stored::New);
                        println!(
                            "record {} {} -> {} started {}",
                            r.record.meta.call_id,
                            r.record.meta.caller.number,
                            r.record.meta.callee.number,
                            clock::rfc3339(r.record.meta.start_unix_ms)
                        );
                    }
                    Err(e) => {
                        problems += 1;
                        eprintln!("cablekey calea: {e}");
                    }
                },
                Line::End { reason, delivered } => {
                    println!("end: {reason} ({delivered} records sent)");
                }
            }
        }
        if let Some(h) = &lines.audit_head {
            println!("controller audit head after this request: {h}");
        }
        anyhow::Ok((stored, new))
    })?;
    println!("case {case}: {stored} records stored ({new} new)");
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
