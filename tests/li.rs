//! The lawful-intercept API end to end: a real controller service with its
//! LI listener, simulated CTAs making calls, the CALEA server's CLI
//! provisioning tasks and fetching records in the three modes, and the LE
//! private key opening each record to the key the CTAs used. Then every
//! refusal, each audited, and the audit log verified and tampered with.
//! Loopback only, on 127.0.0.160-166.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use cablekey_calea_server::li_client::{Client, Conn, KeyQuery};
use cablekey_calea_server::records::RecordStore;
use cablekey_cta_firmware::line::Phase;
use cablekey_cta_firmware::sim::{self, Cta, Snapshot};
use cablekey_gateway_controller::escrow::{keyfile, unix_ms};
use cablekey_gateway_controller::service::{self, Settings};
use cablekey_protocol::escrow::open;
use cablekey_protocol::li::{Line, Mode, TaskSpec};

const BIN: &str = env!("CARGO_BIN_EXE_cablekey");

use common::{cli_ok as ok, cli_run as run, li_certs as keys_and_certs};

fn settings(dir: &Path, ip: &str, endpoints: &[(usize, &str, &str)]) -> Settings {
    let mut text = format!(
        "[mgcp]\nlisten = \"{ip}:2727\"\n[escrow]\ndir = \"data\"\nle_public_key = \"le.pub\"\n\
         [li]\nlisten = \"{ip}:7443\"\nca_cert = \"ca/ca.crt\"\ncert = \"ca/controller.crt\"\n\
         key = \"ca/controller.key\"\naudit_log = \"li-audit.log\"\n"
    );
    for (i, number, addr) in endpoints {
        text += &format!(
            "[[endpoint]]\nname = \"aaln/1@cta{i}.li\"\nnumber = \"{number}\"\naddr = \"{addr}:2427\"\n"
        );
    }
    Settings::parse(&dir.join("controller.toml"), &text).unwrap()
}

/// Sets up a call from `a` to `b` until both ends have the key; returns
/// the key's fingerprint as both CTAs hold it. The call stays up.
async fn call(a: &Cta, b: &Cta, b_number: &str) -> String {
    let step = Duration::from_secs(5);
    let phase = |p: Phase| move |s: &Snapshot| s.phases[0] == p;
    a.command("offhook").await;
    assert!(
        common::reached(a, step, phase(Phase::DialTone)).await,
        "dial tone"
    );
    a.command(&format!("dial {b_number}")).await;
    assert!(
        common::reached(b, step, phase(Phase::Ringing)).await,
        "ringing"
    );
    b.command("offhook").await;
    let keyed = |s: &Snapshot| s.connections.iter().any(|c| c.key.is_some());
    assert!(common::reached(a, step, keyed).await && common::reached(b, step, keyed).await);
    let key = |s: Snapshot| {
        s.connections
            .iter()
            .find_map(|c| c.key)
            .unwrap()
            .to_string()
    };
    let (ka, kb) = (
        key(a.snapshot().await.unwrap()),
        key(b.snapshot().await.unwrap()),
    );
    assert_eq!(ka, kb);
    ka
}

async fn hang_up(a: &Cta, b: &Cta) {
    a.command("onhook").await;
    b.command("onhook").await;
    let idle = |s: &Snapshot| s.phases[0] == Phase::Idle;
    common::reached(a, Duration::from_secs(5), idle).await;
    common::reached(b, Duration::from_secs(5), idle).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// The fingerprints of every record in the CALEA store, opened with the
/// LE private key, with the parties of each.
fn opened(dir: &Path) -> Vec<(String, String, String)> {
    let sk = keyfile::load_private_key(&dir.join("le.key")).unwrap();
    let store = RecordStore::open(&dir.join("calea-data")).unwrap();
    let (records, bad) = store.all().unwrap();
    assert!(bad.is_empty());
    records
        .iter()
        .map(|r| {
            let epoch = store.epoch(&r.sealed.epoch).unwrap().unwrap();
            let fp = open(&sk, &epoch, r).unwrap().fingerprint().to_string();
            (
                fp,
                r.meta.caller.number.clone(),
                r.meta.callee.number.clone(),
            )
        })
        .collect()
}

async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .ok()
        .flatten()
        .expect("a line from cablekey calea follow")
}

fn rfc3339(ms: u64) -> String {
    cablekey_calea_server::clock::rfc3339(ms)
}

#[test]
fn future_current_and_historical_records_open_to_the_ctas_keys() {
    let dir = common::scratch_dir("li-modes");
    let ip = "127.0.0.160";
    keys_and_certs(&dir, ip);
    let numbers = ["4001", "4002", "4003", "4004"];
    let addrs: Vec<String> = (161..165).map(|i| format!("127.0.0.{i}")).collect();
    let endpoints: Vec<(usize, &str, &str)> = (0..4)
        .map(|i| (i + 1, numbers[i], addrs[i].as_str()))
        .collect();
    let li = format!("{ip}:7443");
    let calea = |args: &[&str]| {
        let mut v = vec!["calea", "--data-dir", "calea-data"];
        v.extend_from_slice(args);
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let t0 = unix_ms();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let running = service::start(settings(&dir, ip, &endpoints), Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(running.li_addr, Some(li.parse().unwrap()));
        let mut ctas = Vec::new();
        for (i, addr) in sim::addresses(addrs[0].parse().unwrap(), 2427, 4)
            .into_iter()
            .enumerate()
        {
            let mut c = sim::Config::new(&format!("cta{}.li", i + 1), addr, running.addr);
            c.console = false;
            ctas.push(Arc::new(Cta::start(c).await.unwrap()));
        }
        for cta in &ctas {
            assert!(common::reached(cta, Duration::from_secs(10), |s| s.registered).await);
        }
        let (a, b, c, d) = (&ctas[0], &ctas[1], &ctas[2], &ctas[3]);

        // Before any task: a call of the target and one of two others.
        let past = call(a, b, "4002").await;
        hang_up(a, b).await;
        let other = call(c, d, "4004").await;
        hang_up(c, d).await;

        // The warrant, provisioned on the controller.
        let dir2 = dir.clone();
        let cli = move |args: Vec<String>| {
            let dir = dir2.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    let a: Vec<&str> = args.iter().map(String::as_str).collect();
                    ok(&dir, &a)
                })
                .await
                .unwrap()
            }
        };
        let fetch = |case: &str, mode: &str| {
            cli(calea(&[
                "fetch",
                "--case",
                case,
                "--mode",
                mode,
                "--controller",
                &li,
            ]))
        };
        let push = |case: &str| {
            cli(calea(&[
                "warrant",
                "push",
                "--case",
                case,
                "--controller",
                &li,
            ]))
        };
        let (start, end) = (rfc3339(t0 - 3_600_000), rfc3339(t0 + 3_600_000));
        cli(calea(&[
            "warrant",
            "add",
            "--case",
            "C-LI-1",
            "--target",
            "4001",
            "--start",
            &start,
            "--end",
            &end,
            "--modes",
            "future,current,historical",
            "--collector",
            "127.0.0.160:5000",
        ]))
        .await;
        push("C-LI-1").await;

        // Future: the stream is open before the call; the record arrives as
        // the call is set up.
        let mut follow = Command::new(BIN)
            .current_dir(&dir)
            .args(calea(&["follow", "--case", "C-LI-1", "--controller", &li]))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let stdout = follow.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        assert!(next(&mut rx).await.starts_with("following case C-LI-1"));
        let other_live = call(c, d, "4004").await;
        hang_up(c, d).await;
        let live = call(b, a, "4001").await; // the target is called
        let line = next(&mut rx).await;
        assert!(
            line.starts_with("record ") && line.contains(" 4002 -> 4001 "),
            "{line}"
        );
        hang_up(b, a).await;
        follow.kill().unwrap();
        follow.wait().unwrap();

        // Current: a task provisioned while the call is up.
        let in_call = call(a, c, "4003").await;
        let now = unix_ms();
        cli(calea(&[
            "warrant",
            "add",
            "--case",
            "C-LI-2",
            "--target",
            "4003",
            "--start",
            &rfc3339(now),
            "--end",
            &rfc3339(now + 3_600_000),
            "--modes",
            "current",
            "--collector",
            "127.0.0.160:5000",
        ]))
        .await;
        push("C-LI-2").await;
        let out = fetch("C-LI-2", "current").await;
        assert!(out.contains("1 records stored (1 new)"), "{out}");
        hang_up(a, c).await;
        let out = fetch("C-LI-2", "current").await;
        assert!(
            out.contains("0 records stored"),
            "no call in progress: {out}"
        );

        // Historical: the target's past calls in the window.
        let out = fetch("C-LI-1", "historical").await;
        assert!(out.contains("3 records stored"), "{out}");

        let opened = opened(&dir);
        let fps: BTreeSet<&str> = opened.iter().map(|(f, _, _)| f.as_str()).collect();
        for (what, fp) in [("past", &past), ("live", &live), ("in call", &in_call)] {
            assert!(
                fps.contains(fp.as_str()),
                "{what} call's key {fp} not received"
            );
        }
        for fp in [&other, &other_live] {
            assert!(
                !fps.contains(fp.as_str()),
                "a non-target call's record was delivered"
            );
        }
        assert_eq!(opened.len(), 3, "{opened:?}");
        for (_, from, to) in &opened {
            assert!(from == "4001" || to == "4001" || from == "4003" || to == "4003");
        }

        for cta in ctas {
            if let Ok(cta) = Arc::try_unwrap(cta) {
                cta.stop().await;
            }
        }
        running.shutdown(Duration::from_secs(2)).await;
    });
    ok(&dir, &["audit", "verify", "li-audit.log"]);
}

fn conn(dir: &Path, ip: &str, identity: Option<(&str, &str)>) -> Client {
    Client::new(&Conn {
        controller: format!("{ip}:7443").parse().unwrap(),
        server_name: None,
        ca_cert: dir.join("ca/ca.crt"),
        identity: identity.map(|(c, k)| (dir.join(c), dir.join(k))),
    })
    .unwrap()
}

fn spec(case: &str, start: u64, end: u64, modes: &[Mode]) -> TaskSpec {
    TaskSpec {
        case_id: case.into(),
        target: "4001".into(),
        start_unix_ms: start,
        end_unix_ms: end,
        modes: modes.to_vec(),
        collector: "127.0.0.165:5000".into(),
        cci: None,
    }
}

fn audit_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn refusals_are_audited_and_the_audit_log_is_tamper_evident() {
    let dir = common::scratch_dir("li-refusals");
    let ip = "127.0.0.165";
    keys_and_certs(&dir, ip);
    // A second CA, whose client certificate the controller must refuse.
    ok(&dir, &["ca", "init", "--dir", "rogue"]);
    ok(
        &dir,
        &[
            "ca", "issue", "--dir", "rogue", "--name", "calea", "--client",
        ],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log: PathBuf = dir.join("li-audit.log");
    rt.block_on(async {
        let running = service::start(settings(&dir, ip, &[]), Duration::from_secs(1))
            .await
            .unwrap();
        let calea = conn(&dir, ip, Some(("ca/calea.crt", "ca/calea.key")));
        let now = unix_ms();
        let hour = 3_600_000;
        let all = [Mode::Historical, Mode::Current];
        calea
            .provision(&spec("T-EXP", now - 2 * hour, now - hour, &all))
            .await
            .unwrap();
        calea
            .provision(&spec("T-REV", now - hour, now + hour, &all))
            .await
            .unwrap();
        calea
            .provision(&spec("T-OK", now - hour, now + hour, &all))
            .await
            .unwrap();
        calea.revoke("T-REV").await.unwrap();
        let keys = |case: &str, mode, target: &str, window| KeyQuery {
            case_id: case.into(),
            mode,
            target: target.into(),
            window,
        };
        let w = Some((now - hour, now));
        let cases = [
            (keys("T-EXP", Mode::Historical, "4001", w), "task_expired"),
            (keys("T-REV", Mode::Historical, "4001", w), "task_revoked"),
            (keys("T-OK", Mode::Historical, "4002", w), "wrong_target"),
            (
                keys(
                    "T-OK",
                    Mode::Historical,
                    "4001",
                    Some((now - 2 * hour, now)),
                ),
                "window_outside_task",
            ),
            (keys("T-OK", Mode::Future, "4001", None), "mode_not_allowed"),
            (keys("T-NONE", Mode::Current, "4001", None), "unknown_task"),
        ];
        for (q, code) in &cases {
            let err = calea
                .keys(q)
                .await
                .err()
                .unwrap_or_else(|| panic!("{code} granted"));
            assert_eq!(err.refusal_code(), Some(*code), "{err}");
        }
        // Granted, with nothing to deliver: no calls were made.
        let mut lines = calea
            .keys(&keys("T-OK", Mode::Historical, "4001", w))
            .await
            .unwrap();
        assert!(lines.audit_head.is_some());
        while lines.next().await.unwrap().is_some() {}

        // No client certificate; a certificate of another CA.
        let anonymous = conn(&dir, ip, None);
        let err = anonymous.list().await.unwrap_err();
        assert!(err.refusal_code().is_none(), "{err}");
        let rogue = conn(&dir, ip, Some(("rogue/calea.crt", "rogue/calea.key")));
        let err = rogue.list().await.unwrap_err();
        assert!(err.refusal_code().is_none(), "{err}");
        running.shutdown(Duration::from_secs(1)).await;

        // Tasks persist across a restart.
        let running = service::start(settings(&dir, ip, &[]), Duration::from_secs(1))
            .await
            .unwrap();
        let tasks = calea.list().await.unwrap();
        let names: Vec<&str> = tasks.iter().map(|t| t.spec.case_id.as_str()).collect();
        assert_eq!(names, ["T-EXP", "T-OK", "T-REV"]);
        assert!(tasks[2].revoked_unix_ms.is_some());
        running.shutdown(Duration::from_secs(1)).await;

        // A controller key others can read: the controller does not start.
        let key = dir.join("ca/controller.key");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = service::start(settings(&dir, ip, &[]), Duration::from_secs(1))
            .await
            .err()
            .expect("refused to start");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    });

    let entries = audit_lines(&log);
    let refused: Vec<String> = entries
        .iter()
        .filter(|e| e["outcome"] == "refused")
        .map(|e| {
            format!(
                "{} {}",
                e["op"].as_str().unwrap(),
                e["detail"].as_str().unwrap()
            )
        })
        .collect();
    for code in [
        "task_expired",
        "task_revoked",
        "wrong_target",
        "window_outside_task",
        "mode_not_allowed",
        "unknown_task",
    ] {
        assert!(
            refused.iter().any(|r| r.contains(code)),
            "{code} not audited: {refused:#?}"
        );
    }
    let handshakes: Vec<&String> = refused
        .iter()
        .filter(|r| r.starts_with("tls-handshake"))
        .collect();
    assert_eq!(handshakes.len(), 2, "{refused:#?}");
    // The rogue CA has the same name as ours: its certificate's signature fails.
    assert!(
        handshakes.iter().any(|r| r.contains("no certificates")),
        "{handshakes:?}"
    );
    assert!(
        handshakes
            .iter()
            .any(|r| r.contains("invalid peer certificate")),
        "{handshakes:?}"
    );
    let granted = entries.iter().filter(|e| e["outcome"] == "granted").count();
    assert!(granted >= 6, "provisions, revoke, list, the granted fetch");
    // Clients, or the controller itself for the tasks' media side.
    assert!(entries.iter().all(|e| e["client"] == "-"
        || (e["client"] == "controller" && e["op"].as_str().unwrap().starts_with("media-"))
        || e["client"]
            .as_str()
            .unwrap()
            .starts_with("CN=calea sha256:")));
    // T-OK allows current mode: its target's media was intercepted.
    assert!(entries
        .iter()
        .any(|e| e["op"] == "media-on" && e["case"] == "T-OK"));

    // The real log verifies; a changed byte and a deleted entry do not.
    ok(&dir, &["audit", "verify", "li-audit.log"]);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let changed = text.replacen("task_revoked", "task_rEvoked", 1);
    std::fs::write(dir.join("changed.log"), &changed).unwrap();
    let out = run(&dir, &["audit", "verify", "changed.log"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chain broken at entry at line"));
    let mut deleted = lines.clone();
    deleted.remove(3);
    std::fs::write(dir.join("deleted.log"), deleted.join("\n") + "\n").unwrap();
    let out = run(&dir, &["audit", "verify", "deleted.log"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 4"));
}

/// `[li] allowed_clients` and `revoked_clients` (127.0.3.50): a
/// certificate of the CA that is not on the allow-list is refused; one
/// revoked by serial in the list file is refused from its next request on,
/// without a restart; a list that cannot be parsed refuses everyone until
/// fixed; each refusal is audited; a missing list stops the controller.
#[test]
fn client_allow_list_and_revocation_list_are_enforced_and_audited() {
    use cablekey_gateway_controller::li::identity::Identity;
    let dir = common::scratch_dir("li-clients");
    let ip = "127.0.3.50";
    keys_and_certs(&dir, ip);
    for name in ["calea-2", "intruder"] {
        ok(
            &dir,
            &["ca", "issue", "--dir", "ca", "--name", name, "--client"],
        );
    }
    let identity = |name: &str| {
        let certs = cablekey_keyfile::tls::load_certs(&dir.join(format!("ca/{name}.crt"))).unwrap();
        Identity::of(&certs[0])
    };
    let (first, second) = (identity("calea"), identity("calea-2"));
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let revoked = dir.join("revoked.txt");
    std::fs::write(&revoked, "# nothing revoked yet\n").unwrap();
    let configured = || {
        let mut s = settings(&dir, ip, &[]);
        let li = s.li.as_mut().unwrap();
        li.allowed_clients = vec![
            "CN=calea".parse().unwrap(),
            format!("sha256:{}", hex(&second.fingerprint))
                .parse()
                .unwrap(),
        ];
        li.revoked_clients = Some(revoked.clone());
        s
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let running = service::start(configured(), Duration::from_secs(1))
            .await
            .unwrap();
        let client = |name: &str| {
            conn(
                &dir,
                ip,
                Some((&format!("ca/{name}.crt"), &format!("ca/{name}.key"))),
            )
        };
        let (calea, calea2, intruder) = (client("calea"), client("calea-2"), client("intruder"));
        let code = |r: Result<Vec<cablekey_protocol::li::Task>, _>| match r {
            Ok(_) => "granted".to_string(),
            Err(e) => {
                let e: cablekey_calea_server::li_client::ClientError = e;
                e.refusal_code().unwrap_or("no code").to_string()
            }
        };
        assert_eq!(code(calea.list().await), "granted");
        assert_eq!(code(calea2.list().await), "granted");
        assert_eq!(code(intruder.list().await), "client_not_allowed");

        // A future stream open when its client is revoked ends there.
        let now = unix_ms();
        calea
            .provision(&spec(
                "T-FUT",
                now - 3_600_000,
                now + 3_600_000,
                &[Mode::Future],
            ))
            .await
            .unwrap();
        let mut stream = calea
            .keys(&KeyQuery {
                case_id: "T-FUT".into(),
                mode: Mode::Future,
                target: "4001".into(),
                window: None,
            })
            .await
            .unwrap();

        // Revoked by serial (as openssl prints it: upper case, colons).
        let serial = first.serial.clone().unwrap().to_uppercase();
        std::fs::write(&revoked, format!("serial:{serial}  # lost\n")).unwrap();
        let end = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("the stream ends within seconds of the revocation");
        match end {
            Ok(Some(Line::End { reason, delivered })) => {
                assert!(reason.contains("client_revoked"), "{reason}");
                assert_eq!(delivered, 0);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(code(calea.list().await), "client_revoked");
        assert_eq!(code(calea2.list().await), "granted");
        // A list that does not parse: everyone refused until it is fixed.
        std::fs::write(&revoked, "serial:zz\n").unwrap();
        assert_eq!(code(calea2.list().await), "unavailable");
        std::fs::write(&revoked, format!("serial:{serial}\n")).unwrap();
        assert_eq!(code(calea2.list().await), "granted");
        assert_eq!(code(calea.list().await), "client_revoked");
        running.shutdown(Duration::from_secs(1)).await;

        std::fs::remove_file(&revoked).unwrap();
        let err = service::start(configured(), Duration::from_secs(1))
            .await
            .err()
            .expect("refused to start without its revocation list");
        assert!(err.to_string().contains("revocation list"), "{err}");
    });
    let entries = audit_lines(&dir.join("li-audit.log"));
    let refused = |code: &str| {
        entries
            .iter()
            .filter(|e| e["outcome"] == "refused" && e["detail"].as_str().unwrap().contains(code))
            .count()
    };
    assert_eq!(refused("client_not_allowed"), 1);
    assert_eq!(refused("client_revoked"), 3, "two requests, one stream");
    assert_eq!(refused("unavailable"), 1);
    let intruder = entries
        .iter()
        .find(|e| e["detail"].as_str().unwrap().contains("client_not_allowed"))
        .unwrap();
    assert!(intruder["client"]
        .as_str()
        .unwrap()
        .starts_with("CN=intruder sha256:"));
    ok(&dir, &["audit", "verify", "li-audit.log"]);
}

/// The media side follows the task's window on the service's timers
/// (127.0.3.51): a task provisioned before its start is turned on at its
/// start and off after its end, each audited with the case and its CCI; a
/// historical-only task never has media copied.
#[test]
fn media_intercepts_start_and_end_with_the_task_window() {
    let dir = common::scratch_dir("li-media-window");
    let ip = "127.0.3.51";
    keys_and_certs(&dir, ip);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = dir.join("li-audit.log");
    let (start, end, cci) = rt.block_on(async {
        let running = service::start(settings(&dir, ip, &[]), Duration::from_secs(1))
            .await
            .unwrap();
        let calea = conn(&dir, ip, Some(("ca/calea.crt", "ca/calea.key")));
        let now = unix_ms();
        let (start, end) = (now + 1_500, now + 3_000);
        let mut live = spec("W-LIVE", start, end, &[Mode::Current]);
        live.collector = format!("{ip}:5000");
        let task = calea.provision(&live).await.unwrap();
        let mut hist = spec("W-HIST", now - 1_000, end, &[Mode::Historical]);
        hist.target = "4002".into();
        calea.provision(&hist).await.unwrap();
        // Wanting a CCI another task holds is refused.
        let mut clash = spec("W-CLASH", now, end, &[Mode::Future]);
        clash.cci = task.cci;
        let err = calea.provision(&clash).await.unwrap_err();
        assert_eq!(err.refusal_code(), Some("duplicate_cci"), "{err}");
        tokio::time::sleep(Duration::from_millis(end - now + 800)).await;
        running.shutdown(Duration::from_secs(1)).await;
        (start, end, task.cci.unwrap())
    });
    let entries = audit_lines(&log);
    let media: Vec<(&str, &str, u64, &str)> = entries
        .iter()
        .filter(|e| e["op"].as_str().unwrap().starts_with("media-"))
        .map(|e| {
            (
                e["op"].as_str().unwrap(),
                e["case"].as_str().unwrap(),
                e["time_unix_ms"].as_u64().unwrap(),
                e["detail"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(media.len(), 2, "{media:?}");
    let (on, off) = (media[0], media[1]);
    assert_eq!(
        (on.0, on.1, off.0, off.1),
        ("media-on", "W-LIVE", "media-off", "W-LIVE")
    );
    assert!(
        on.2 >= start && on.2 < start + 1_000,
        "on at {} for {start}",
        on.2
    );
    assert!(
        off.2 > end && off.2 < end + 1_000,
        "off at {} for {end}",
        off.2
    );
    let tag = format!("es-cci {cci:08X} es-ccd {ip}:5000");
    assert!(on.3 == tag && off.3 == tag, "{media:?}");
}
