//! Shared helpers for the end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Fails loudly when a tool the tests need is missing: `scripts/setup.sh` installs it.
pub fn require_tool(name: &str) -> PathBuf {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .expect("run sh");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && !path.is_empty(),
        "{name} is not installed: run scripts/setup.sh (the test suite needs it)"
    );
    PathBuf::from(path)
}

/// A fresh scratch directory under the target directory.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// osmo-mgw running on a loopback address of the test's own, killed on drop.
pub struct OsmoMgw {
    child: std::process::Child,
    pub mgcp: std::net::SocketAddr,
    _dir: PathBuf,
}

impl OsmoMgw {
    /// Starts osmo-mgw with MGCP on `ip:port` and RTP ports from `rtp_base`
    /// (64 of them); its VTY and CTRL interfaces bind to `ip` as well.
    pub fn start(ip: &str, port: u16, rtp_base: u16) -> OsmoMgw {
        require_tool("osmo-mgw");
        let dir = scratch_dir(&format!("osmo-mgw-{ip}-{port}"));
        let cfg = dir.join("osmo-mgw.cfg");
        std::fs::write(
            &cfg,
            [
                "log stderr".to_string(),
                " logging level set-all notice".into(),
                "line vty".into(),
                format!(" bind {ip}"),
                "ctrl".into(),
                format!(" bind {ip}"),
                "mgcp".into(),
                " domain mgw".into(),
                format!(" bind ip {ip}"),
                format!(" bind port {port}"),
                format!(" rtp port-range {rtp_base} {}", rtp_base + 63),
                format!(" rtp bind-ip {ip}"),
                " number endpoints 16".into(),
            ]
            .join("\n"),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("osmo-mgw.log")).unwrap();
        let child = Command::new("osmo-mgw")
            .arg("-c")
            .arg(&cfg)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start osmo-mgw");
        let mgcp: std::net::SocketAddr = format!("{ip}:{port}").parse().unwrap();
        let mut mgw = OsmoMgw {
            child,
            mgcp,
            _dir: dir.clone(),
        };
        // Ready once it answers an audit of its null endpoint.
        let probe = std::net::UdpSocket::bind((ip, 0)).unwrap();
        probe
            .set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 2048];
        for tid in 1..=50 {
            if let Ok(Some(status)) = mgw.child.try_wait() {
                let log = std::fs::read_to_string(dir.join("osmo-mgw.log")).unwrap_or_default();
                panic!("osmo-mgw exited ({status}):\n{log}");
            }
            let audit = format!("AUEP {} null@mgw MGCP 1.0\r\n", 900_000 + tid);
            probe.send_to(audit.as_bytes(), mgcp).unwrap();
            if probe.recv_from(&mut buf).is_ok() {
                return mgw;
            }
        }
        mgw.child.kill().ok();
        panic!("osmo-mgw did not answer on {mgcp}");
    }
}

impl Drop for OsmoMgw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tshark capturing UDP on `lo` into a file, stopped on demand (and killed
/// on drop). Each captured packet also prints a line on `lines`.
pub struct Capture {
    child: std::process::Child,
    pub lines: std::sync::mpsc::Receiver<String>,
    pub pcap: PathBuf,
}

impl Capture {
    /// Starts capturing `udp and <filter>`; returns once a probe datagram
    /// sent on `probe_ip` (which the filter must cover) shows up.
    pub fn start(filter: &str, probe_ip: &str, pcap: &Path) -> Capture {
        use std::io::{BufRead, BufReader};
        use std::time::{Duration, Instant};
        require_tool("tshark");
        // -P prints a line per packet while -w writes them: we see when
        // the capture is live. -a bounds it whatever happens to the test.
        let mut child = Command::new("tshark")
            .args(["-i", "lo", "-n", "-l", "-P", "-f"])
            .arg(format!("udp and {filter}"))
            .args(["-a", "duration:120", "-w"])
            .arg(pcap)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(pcap.with_extension("log")).expect("tshark log"))
            .spawn()
            .expect("start tshark");
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("tshark stdout");
        std::thread::spawn(move || {
            // Read to the end: a closed pipe would stop tshark early.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let probe = std::net::UdpSocket::bind((probe_ip, 0)).expect("bind probe");
        let deadline = Instant::now() + Duration::from_secs(30);
        // "Capturing on" comes before the filter is live: probe until one shows.
        loop {
            assert!(Instant::now() < deadline, "tshark never saw a probe packet");
            let me = probe.local_addr().expect("probe address");
            probe.send_to(b"probe", me).expect("send probe");
            if lines.recv_timeout(Duration::from_millis(200)).is_ok() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        while lines.try_recv().is_ok() {}
        Capture {
            child,
            lines,
            pcap: pcap.into(),
        }
    }

    /// Ends the capture cleanly (SIGINT); the file is then complete.
    pub fn stop(&mut self) {
        let stopped = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(stopped.success());
        let status = self.child.wait().expect("wait for tshark");
        let log = std::fs::read_to_string(self.pcap.with_extension("log")).unwrap_or_default();
        assert!(status.success(), "tshark capture failed: {status}\n{log}");
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every record in the escrow store at `store`, opened as the CALEA side
/// would with the LE private key in `private_key`: its metadata and key.
pub fn escrowed_keys(
    store: &Path,
    private_key: &Path,
) -> Vec<(
    cablekey_protocol::escrow::CallMeta,
    cablekey_protocol::secret::SecretBytes,
)> {
    use cablekey_gateway_controller::escrow::{
        keyfile, EscrowStore, Options, SledStore, TimeRange,
    };
    let sk = keyfile::load_private_key(private_key).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SledStore::open(store, Options::default()).unwrap();
        let mut keys = Vec::new();
        for record in store.by_time(TimeRange::ALL).await.unwrap() {
            let epoch = store.epoch(record.sealed.epoch).await.unwrap().unwrap();
            let key = cablekey_protocol::escrow::open(&sk, &epoch, &record).unwrap();
            keys.push((record.meta, key));
        }
        store.close();
        keys
    })
}

/// A simulated CTA on `addr` without a console, once it has registered.
pub async fn start_cta(
    domain: &str,
    addr: &str,
    ca: std::net::SocketAddr,
) -> cablekey_cta_firmware::sim::Cta {
    use cablekey_cta_firmware::sim::{self, Cta};
    let mut config = sim::Config::new(domain, addr.parse().unwrap(), ca);
    config.console = false;
    let cta = Cta::start(config).await.unwrap();
    wait_for(&cta, std::time::Duration::from_secs(10), |s| s.registered).await;
    cta
}

/// Polls the CTA's snapshot until `done` holds; fails after `limit`.
/// Polls `cta` until `done` holds (true) or `limit` passes or the CTA
/// stops (false): for tests that go on after a step fails.
pub async fn reached(
    cta: &cablekey_cta_firmware::sim::Cta,
    limit: std::time::Duration,
    done: impl Fn(&cablekey_cta_firmware::sim::Snapshot) -> bool,
) -> bool {
    let until = std::time::Instant::now() + limit;
    while std::time::Instant::now() < until {
        match cta.snapshot().await {
            Some(s) if done(&s) => return true,
            Some(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            None => return false,
        }
    }
    false
}

pub async fn wait_for(
    cta: &cablekey_cta_firmware::sim::Cta,
    limit: std::time::Duration,
    done: impl Fn(&cablekey_cta_firmware::sim::Snapshot) -> bool,
) -> cablekey_cta_firmware::sim::Snapshot {
    let until = std::time::Instant::now() + limit;
    loop {
        let s = cta.snapshot().await.expect("the CTA stopped");
        if done(&s) {
            return s;
        }
        assert!(
            std::time::Instant::now() < until,
            "gave up after {limit:?}: {s:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// A console command that must answer `ok`.
pub async fn say(cta: &cablekey_cta_firmware::sim::Cta, command: &str) {
    let answer = cta.command(command).await;
    assert!(answer.starts_with("ok"), "{command}: {answer}");
}

/// Starts `cablekey controller` and waits until it listens.
pub fn start_controller(config: &Path) -> std::process::Child {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cablekey"))
        .args(["controller", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(config.with_extension("log"))
                .unwrap(),
        )
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("controller listening"), "{line:?}");
    child
}

/// Writes `dir/controller.toml`: `sections` (TOML: `[mgcp]`, `[escrow]`,
/// ...) then one line endpoint per (name, number, address).
pub fn write_controller_config(
    dir: &Path,
    sections: &str,
    lines: &[(String, String, String)],
) -> PathBuf {
    let mut text = sections.to_string();
    for (name, number, addr) in lines {
        text +=
            &format!("[[endpoint]]\nname = \"{name}\"\nnumber = \"{number}\"\naddr = \"{addr}\"\n");
    }
    let path = dir.join("controller.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `cablekey ARGS` run in `dir`, its output echoed for the test log.
pub fn cli_run(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_cablekey"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    eprintln!(
        "$ cablekey {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `cablekey ARGS` that must succeed; its standard output.
pub fn cli_ok(dir: &Path, args: &[&str]) -> String {
    let out = cli_run(dir, args);
    assert!(out.status.success(), "cablekey {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// For the LI API: LE keys (`le.key`, `le.pub`), the head-end CA (`ca/`),
/// the controller's server certificate for `controller_ip` and the CALEA
/// server's client certificate (`ca/calea.crt`).
pub fn li_certs(dir: &Path, controller_ip: &str) {
    cablekey_gateway_controller::escrow::keyfile::generate_keypair(
        &dir.join("le.key"),
        &dir.join("le.pub"),
    )
    .unwrap();
    cli_ok(dir, &["ca", "init", "--dir", "ca"]);
    cli_ok(
        dir,
        &[
            "ca",
            "issue",
            "--dir",
            "ca",
            "--name",
            "controller",
            "--server",
            controller_ip,
        ],
    );
    cli_ok(
        dir,
        &["ca", "issue", "--dir", "ca", "--name", "calea", "--client"],
    );
}
