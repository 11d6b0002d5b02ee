//! The serial console over a real pseudo-terminal: hook and digits reach
//! the call agent, status shows the call, and neither the console nor the
//! logs ever show the key: only its fingerprint.

mod sim_common;

use std::io::{Read, Write};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use cablekey_protocol::secret::SecretBytes;
use cablekey_protocol::srtp::derive::{master_key, Direction};
use cablekey_protocol::srtp::Suite;
use sim_common::*;

/// Everything the tracing subscriber writes, for the key check.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The test's end of the serial line.
struct Serial {
    port: std::fs::File,
    rx: mpsc::Receiver<Vec<u8>>,
    /// Everything read so far.
    seen: String,
}

impl Serial {
    fn open(path: &std::path::Path) -> Serial {
        let port = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        let mut reader = port.try_clone().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        Serial {
            port,
            rx,
            seen: String::new(),
        }
    }

    /// Types a command and reads until `until` shows up in the answer.
    fn send(&mut self, line: &str, until: &str) -> String {
        let start = self.seen.len();
        self.port.write_all(format!("{line}\n").as_bytes()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.seen[start..].contains(until) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(bytes) => self.seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => panic!("no {until:?} after {line:?}: {}", &self.seen[start..]),
            }
        }
        self.seen[start..].to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_drives_the_line_and_never_shows_the_key() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let mut agent = Agent::bind().await;
    let cta = start_cta(&mut agent, "console.lab", "127.0.0.25", true).await;
    let pty = cta.console.clone().expect("a console pty");
    assert!(pty.starts_with("/dev/pts"), "{}", pty.display());
    let resp = agent
        .command(
            cta.mgcp,
            "RQNT {tid} aaln/1@console.lab MGCP 1.0\nX: 1\nR: L/hd(N)\n",
        )
        .await;
    assert!(resp.starts_with("200"), "{resp}");

    // The serial port is used from a blocking thread, as a terminal would.
    let serial = Arc::new(Mutex::new(Serial::open(&pty)));
    let s = serial.clone();
    let type_line = move |line: &str, until: &str| {
        let (s, line, until) = (s.clone(), line.to_string(), until.to_string());
        tokio::task::spawn_blocking(move || s.lock().unwrap().send(&line, &until))
    };

    let out = type_line("offhook", "ok").await.unwrap();
    assert!(out.contains("ok: line 1"), "{out}");
    let (ntfy, _) = agent.expect("NTFY").await;
    assert!(ntfy.contains("O: L/hd") && ntfy.contains("X: 1"), "{ntfy}");

    let resp = agent
        .command(
            cta.mgcp,
            "RQNT {tid} aaln/1@console.lab MGCP 1.0\nX: 2\nR: L/hu(N), D/[0-9#*T](D)\nS: L/dl\nD: (xxxx)\n",
        )
        .await;
    assert!(resp.starts_with("200"), "{resp}");
    let out = type_line("dial 5551", "ok").await.unwrap();
    assert!(out.contains("ok: line 1"), "{out}");
    let (ntfy, _) = agent.expect("NTFY").await;
    assert!(ntfy.contains("O: D/5,D/5,D/5,D/1"), "{ntfy}");

    let resp = agent
        .command(
            cta.mgcp,
            &format!(
                "CRCX {{tid}} aaln/1@console.lab MGCP 1.0\nC: {CALL}\nL: p:20, a:PCMU, k:base64:{KEY}, x-dir:caller\nM: sendrecv\nX: 3\nR: L/hu(N)\n\n{}",
                sdp_for("127.0.0.25:40000".parse().unwrap())
            ),
        )
        .await;
    assert!(resp.starts_with("200"), "{resp}");

    let k = SecretBytes::from_base64(KEY).unwrap();
    let fp = k.fingerprint().to_string();
    let out = type_line("status", "srtp sessions").await.unwrap();
    for want in [
        "registration Registered",
        &format!("console {}", pty.display()),
        "hook Off",
        &format!("call {CALL} caller sendrecv AEAD_AES_128_GCM Authorized key {fp}"),
        "srtp sessions: 1",
    ] {
        assert!(out.contains(want), "{want:?} in {out}");
    }
    let out = type_line("log", &fp).await.unwrap();
    assert!(out.contains("SRTP installed"), "{out}");
    let out = type_line("help", "record FILE").await.unwrap();
    assert!(out.contains("offhook"), "{out}");
    let out = type_line("bogus", "error").await.unwrap();
    assert!(out.contains("unknown command"), "{out}");
    let out = type_line("onhook", "ok").await.unwrap();
    assert!(out.contains("ok: line 1"), "{out}");
    let (ntfy, _) = agent.expect("NTFY").await;
    assert!(ntfy.contains("O: L/hu"), "{ntfy}");
    assert_eq!(cta.srtp_sessions(), 0, "hang-up wipes the contexts");
    let out = type_line("status", "srtp sessions").await.unwrap();
    assert!(
        out.contains("srtp sessions: 0") && out.contains("no key"),
        "{out}"
    );
    cta.stop().await;

    // Nothing anywhere shows K or the keys derived from it.
    let console = serial.lock().unwrap().seen.clone();
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains(&fp),
        "the logs name the key by its fingerprint"
    );
    let mut secrets = vec![KEY.to_string(), KEY_HEX.to_string(), KEY_HEX.to_uppercase()];
    secrets.push(KEY.trim_end_matches('=')[..16].to_string());
    for dir in [Direction::CallerToCallee, Direction::CalleeToCaller] {
        let m = master_key(&k, CALL.as_bytes(), Suite::AeadAes128Gcm, dir).unwrap();
        let hex: String = m.key.expose().iter().map(|b| format!("{b:02x}")).collect();
        secrets.push(hex);
    }
    for text in [&console, &logs] {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "key material in output:\n{text}"
            );
        }
    }
}
