//! `cablekey mgcp parse|send`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use cablekey_protocol::mgcp;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum MgcpCommand {
    /// Parse MGCP message(s) from FILE (or stdin) and print each as one line of JSON.
    Parse {
        /// File holding one datagram (piggy-backed messages allowed); `-` or nothing for stdin.
        file: Option<PathBuf>,
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
            Ok(msg) => match serde_json::to_string(&msg) {
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
