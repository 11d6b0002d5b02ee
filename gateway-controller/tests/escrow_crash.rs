//! Durability seen from outside the process: a child escrows calls and
//! prints "ACK <call id>" after each acknowledgement. SIGKILLed mid-load it
//! must lose nothing it acknowledged; traced with strace, each ACK must be
//! written only after an fdatasync of the log segment that follows the
//! write of that record.

mod common;

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use cablekey_gateway_controller::escrow::{keyfile, Escrow, EscrowStore, Options, SledStore};
use cablekey_protocol::escrow::{open_epoch, open_record, EpochPolicy};
use common::{key_for, meta, store_dir};

const DIR_VAR: &str = "CABLEKEY_ESCROW_CHILD_DIR";
const MODE_VAR: &str = "CABLEKEY_ESCROW_CHILD_MODE";

/// Prints one line with a single write(2), so a kill never splits it.
fn ack_line(id: &str) {
    let mut out = std::io::stdout().lock();
    out.write_all(format!("ACK {id}\n").as_bytes()).unwrap();
    out.flush().unwrap();
}

/// The child: only runs when started by the tests below.
#[test]
#[ignore = "child process of the crash and strace tests"]
fn escrow_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let dir = Path::new(&dir);
    let mode = std::env::var(MODE_VAR).unwrap();
    let le = keyfile::load_public_key(&dir.join("le.pub")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SledStore::open(dir.join("store"), Options::default()).unwrap();
        let policy = EpochPolicy {
            max_age: Duration::from_millis(200),
            max_records: 500,
        };
        let escrow = Arc::new(Escrow::new(store, le, policy));
        if mode == "few" {
            for n in 0..3u64 {
                let id = format!("strace-call-{n}");
                escrow
                    .escrow(meta(&id, "+1555", "+1666", n), &key_for(n))
                    .await
                    .unwrap();
                ack_line(&id);
            }
            return;
        }
        // Load until killed: 64 concurrent callers, numbered calls.
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..64 {
            let (escrow, next) = (escrow.clone(), next.clone());
            tasks.spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let id = format!("k{n}");
                    let m = meta(&id, "+1555", &format!("+1{}", n % 97), 1_000 + n);
                    escrow.escrow(m, &key_for(n)).await.unwrap();
                    ack_line(&id);
                }
            });
        }
        tasks.join_all().await;
    });
}

fn child(dir: &Path, mode: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "escrow_child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(DIR_VAR, dir)
    .env(MODE_VAR, mode);
    cmd
}

fn keys_in(dir: &Path) -> cablekey_protocol::escrow::LePrivateKey {
    keyfile::generate_keypair(&dir.join("le.key"), &dir.join("le.pub")).unwrap();
    keyfile::load_private_key(&dir.join("le.key")).unwrap()
}

#[test]
fn acknowledged_records_survive_sigkill() {
    let dir = store_dir();
    let sk = keys_in(dir.path());
    let mut proc = child(dir.path(), "load")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = proc.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("ACK ") {
                if tx.send(id.to_owned()).is_err() {
                    break;
                }
            }
        }
    });
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.len() < 3000 && Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(id) => acked.push(id),
            Err(_) => break,
        }
    }
    proc.kill().unwrap(); // SIGKILL
    proc.wait().unwrap();
    reader.join().unwrap();
    acked.extend(rx.try_iter()); // ACKs already in the pipe when it died
    assert!(
        acked.len() >= 1000,
        "child acknowledged only {}",
        acked.len()
    );

    let store = SledStore::open(dir.path().join("store"), Options::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let epochs = rt.block_on(async {
        // One HPKE open per epoch, as the CALEA server would do.
        let mut epoch_keys = HashMap::new();
        for id in &acked {
            let n: u64 = id[1..].parse().unwrap();
            let rec = store
                .get(id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("acknowledged {id} lost"));
            let e = rec.sealed.epoch;
            if let Entry::Vacant(slot) = epoch_keys.entry(e) {
                let epoch = store.epoch(e).await.unwrap().expect("epoch record lost");
                slot.insert(open_epoch(&sk, &epoch).unwrap());
            }
            let key = open_record(&epoch_keys[&e], &rec).unwrap();
            assert!(key.ct_eq(&key_for(n)), "{id}");
        }
        epoch_keys.len()
    });
    eprintln!(
        "{} acknowledged records in {} epochs all present after SIGKILL",
        acked.len(),
        epochs
    );
}

/// One system call seen by strace, from its start line to its end line.
struct Call {
    name: String,
    start: usize,
    end: usize,
    text: String,
    result: String,
}

/// Parses `strace -f -o` output (each line starts with a pid), joining
/// `<unfinished ...>` starts with their `<... resumed>` ends.
fn parse_strace(trace: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut pending: HashMap<&str, Call> = HashMap::new();
    for (i, line) in trace.lines().enumerate() {
        let Some((pid, rest)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(resumed) = rest.strip_prefix("<... ") {
            if let Some(mut call) = pending.remove(pid) {
                call.end = i;
                call.result = resumed
                    .rsplit_once("= ")
                    .map(|r| r.1.to_owned())
                    .unwrap_or_default();
                calls.push(call);
            }
            continue;
        }
        let Some((name, _)) = rest.split_once('(') else {
            continue;
        };
        let mut call = Call {
            name: name.to_owned(),
            start: i,
            end: i,
            text: rest.to_owned(),
            result: String::new(),
        };
        if rest.ends_with("<unfinished ...>") {
            pending.insert(pid, call);
        } else {
            call.result = rest
                .rsplit_once("= ")
                .map(|r| r.1.to_owned())
                .unwrap_or_default();
            calls.push(call);
        }
    }
    calls.sort_by_key(|c| c.start);
    calls
}

#[test]
fn fdatasync_completes_before_the_ack_is_written() {
    let have = Command::new("strace").arg("-V").output();
    assert!(
        have.is_ok_and(|o| o.status.success()),
        "strace is required for this test (scripts/setup.sh installs it)"
    );
    let dir = store_dir();
    keys_in(dir.path());
    let trace_path = dir.path().join("trace.txt");
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-y",
            "-s",
            "65536",
            "-e",
            "trace=pwrite64,fdatasync,fsync,write",
            "-o",
        ])
        .arg(&trace_path)
        .arg(&exe)
        .args([
            "escrow_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_VAR, dir.path())
        .env(MODE_VAR, "few")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trace = std::fs::read_to_string(&trace_path).unwrap();
    let calls = parse_strace(&trace);
    // The log's segments: `<store>/wal/<16 hex digits>.log`, shown by `-y`.
    let wal = format!("{}/", dir.path().join("store").join("wal").display());
    let file_of = |c: &Call| -> Option<String> {
        let at = c.text.find(&wal)?;
        let end = c.text[at..].find('>')?;
        Some(c.text[at..at + end].to_owned())
    };
    for n in 0..3 {
        let id = format!("strace-call-{n}");
        let data = calls
            .iter()
            .find(|c| c.name == "pwrite64" && file_of(c).is_some() && c.text.contains(&id))
            .unwrap_or_else(|| panic!("no write of {id} to the log"));
        let segment = file_of(data).unwrap();
        let sync = calls
            .iter()
            .find(|c| {
                c.name == "fdatasync"
                    && file_of(c).as_deref() == Some(&segment)
                    && c.result == "0"
                    && c.start > data.end
            })
            .unwrap_or_else(|| panic!("no fdatasync of {segment} after {id} was written"));
        let ack = calls
            .iter()
            .find(|c| c.name == "write" && c.text.contains(&format!("\"ACK {id}\\n\"")))
            .unwrap_or_else(|| panic!("no ACK for {id}"));
        let short = |c: &Call| c.text.chars().take(100).collect::<String>();
        eprintln!(
            "{id}: line {} {}\n  line {}-{} {} = {}\n  line {} {}",
            data.start + 1,
            short(data),
            sync.start + 1,
            sync.end + 1,
            short(sync),
            sync.result,
            ack.start + 1,
            short(ack)
        );
        assert!(
            sync.end < ack.start,
            "ACK {id} (trace line {}) written before the fdatasync ended (line {})",
            ack.start + 1,
            sync.end + 1
        );
    }
}
