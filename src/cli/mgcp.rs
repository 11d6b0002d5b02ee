//! `cablekey mgcp parse|send`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant as StdInstant};

use anyhow::{bail, Context};
use cablekey_protocol::mgcp::transaction::{Config, Endpoint, Event};
use cablekey_protocol::mgcp::{self, Message};
use cablekey_protocol::sdp;
use cablekey_protocol::time::Instant;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum MgcpCommand {
    /// Parse MGCP message(s) from FILE (or stdin) and print each as one line of JSON.
    Parse {
        /// File holding one datagram (piggy-backed messages allowed); `-` or nothing for stdin.
        file: Option<PathBuf>,
    },
    /// Send one MGCP command from stdin to ADDR over UDP, with RFC 3435
    /// retransmission, and print the response.
    Send {
        /// The gateway or call agent, e.g. 127.0.0.1:2427.
        addr: SocketAddr,
        /// Local address to send from (default: any, on an ephemeral port).
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// Give up after this many seconds without a final response.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
}

fn read_input(file: Option<&PathBuf>) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    match file {
        Some(p) if p.as_os_str() != "-" => buf = std::fs::read(p)?,
        _ => {
            std::io::stdin().read_to_end(&mut buf)?;
        }
    }
    Ok(buf)
}

pub fn run(cmd: MgcpCommand) -> ExitCode {
    match cmd {
        MgcpCommand::Parse { file } => parse(file.as_ref()),
        MgcpCommand::Send {
            addr,
            bind,
            timeout,
        } => match send(addr, bind, Duration::from_secs(timeout)) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("mgcp send: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn parse(file: Option<&PathBuf>) -> ExitCode {
    let input = match read_input(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read input: {e}");
            return ExitCode::from(2);
        }
    };
    let mut failed = false;
    for (i, result) in mgcp::parse_datagram(&input).into_iter().enumerate() {
        match result {
            Ok(msg) => match to_json(&msg) {
                Ok(json) => println!("{json}"),
                Err(e) => {
                    eprintln!("message {}: cannot render as JSON: {e}", i + 1);
                    failed = true;
                }
            },
            Err(e) => {
                let code = e.return_code();
                eprintln!(
                    "message {}: error {code} ({}): {e}",
                    i + 1,
                    code.description()
                );
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The message as JSON, with its session description parsed as well (or
/// the reason it does not parse, which a gateway answers with 509).
fn to_json(msg: &Message<'_>) -> serde_json::Result<String> {
    let mut v = serde_json::to_value(msg)?;
    if let (Some(text), Some(obj)) = (msg.sdp(), v.as_object_mut()) {
        let session = match sdp::parse(text) {
            Ok(s) => serde_json::to_value(&s)?,
            Err(e) => serde_json::json!({ "error": e.to_string(), "code": 509 }),
        };
        obj.insert("session".into(), session);
    }
    serde_json::to_string(&v)
}

/// Exit status of `mgcp send`: 0 for a 2xx response, 1 for any other final
/// response, 3 when none came.
fn send(addr: SocketAddr, bind: Option<SocketAddr>, timeout: Duration) -> anyhow::Result<ExitCode> {
    let input = read_input(None).context("reading stdin")?;
    let msg = mgcp::parse(&input)
        .map_err(|e| anyhow::anyhow!("not a valid MGCP message: error {}: {e}", e.return_code()))?;
    let Message::Command(command) = msg else {
        bail!("stdin holds a response; send a command");
    };
    // Keep the operator's transaction id: the endpoint starts counting there.
    let mut endpoint = Endpoint::new(Config {
        first_tid: command.tid,
        max_wait: timeout,
        ..Config::default()
    });
    let local = bind.unwrap_or(if addr.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    });
    let socket = UdpSocket::bind(local).with_context(|| format!("binding {local}"))?;
    let start = StdInstant::now();
    let now = || Instant::from_micros(start.elapsed().as_micros() as u64);
    endpoint
        .send_command(now(), addr, command)
        .context("queueing the command")?;

    let mut buf = vec![0u8; mgcp::MAX_DATAGRAM];
    loop {
        while let Some(t) = endpoint.poll_transmit() {
            socket
                .send_to(&t.payload, t.to)
                .with_context(|| format!("sending to {}", t.to))?;
        }
        while let Some(event) = endpoint.poll_event() {
            match event {
                Event::Provisional { code, .. } => eprintln!("provisional: {code}"),
                Event::Response { code, text, .. } => {
                    print!("{}", String::from_utf8_lossy(text.as_bytes()));
                    // Let a requested 000 acknowledgement go out before leaving.
                    while let Some(t) = endpoint.poll_transmit() {
                        socket.send_to(&t.payload, t.to)?;
                    }
                    return Ok(if code.is_success() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    });
                }
                Event::TimedOut { to, .. } => {
                    eprintln!("no response from {to} within {}s", timeout.as_secs());
                    return Ok(ExitCode::from(3));
                }
                Event::BadMessage { from, error } => {
                    eprintln!("ignored a bad message from {from}: {error}");
                }
                Event::Command { from, .. } => eprintln!("ignored a command from {from}"),
            }
        }
        let wait = endpoint
            .poll_timeout()
            .map_or(Duration::from_millis(100), |d| d.saturating_since(now()))
            .max(Duration::from_millis(1));
        socket.set_read_timeout(Some(wait))?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => endpoint.handle_datagram(now(), from, &buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e).context("receiving"),
        }
        endpoint.handle_timeout(now());
    }
}
