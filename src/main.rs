//! `cablekey`: one binary for the head-end, the simulators and the tools.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod cli;

/// The controller allocates per message and the escrow threads free what
/// the driver allocated: glibc's malloc/free were ≈ 10 % of the
/// controller's CPU in `bench calls` (BENCHMARKS.md, Call setup).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "cablekey",
    version,
    about = "Per-call media keys for cable telephony, with lawful-intercept key escrow"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole system on loopback, place calls and check them.
    Lab(cli::lab::LabArgs),
    /// Run the gateway controller (MGCP call agent with key escrow).
    Controller(cli::controller::ControllerArgs),
    /// Run simulated CTAs: UDP MGCP endpoints with SRTP media and serial consoles.
    Cta(cli::cta::CtaArgs),
    /// Run a POTS gateway: trunks to a simulated telephone network.
    Pots(cli::pots::PotsArgs),
    /// The CALEA server's tools: warrants, escrow records, decryption.
    Calea(cli::calea::CaleaArgs),
    /// Drive a hardware-in-the-loop rig.
    Hil,
    /// Create a law-enforcement key pair: the public half configures the
    /// controller, the private half belongs on the CALEA server only.
    Keygen {
        /// Private key file (created with mode 0600; never overwritten).
        #[arg(long, default_value = "le-private.key")]
        private: std::path::PathBuf,
        /// Public key file (never overwritten).
        #[arg(long, default_value = "le-public.key")]
        public: std::path::PathBuf,
    },
    /// The head-end CA for the lawful-intercept API's mutual TLS.
    #[command(subcommand)]
    Ca(cli::ca::CaCommand),
    /// The lawful-intercept audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// MGCP tools for operators debugging gateways.
    #[command(subcommand)]
    Mgcp(cli::mgcp::MgcpCommand),
    /// Load benchmarks (`bench calls`).
    #[command(subcommand)]
    Bench(cli::bench::BenchCommand),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain; report the first bad entry (exit 1).
    Verify { file: std::path::PathBuf },
}

/// `RUST_LOG` wins over `default` (an `EnvFilter` directive).
fn init_logs(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Parts that later issues build say so plainly instead of pretending.
fn not_yet(what: &str, issue: u32) -> ExitCode {
    eprintln!("cablekey {what}: not implemented yet (tracked in issue {issue})");
    ExitCode::from(2)
}

fn keygen(private: &std::path::Path, public: &std::path::Path) -> ExitCode {
    use cablekey_keyfile as keyfile;
    match keyfile::generate_keypair(private, public) {
        Ok(id) => {
            println!("{id}");
            eprintln!(
                "wrote {} (0600, for the CALEA server only) and {}",
                private.display(),
                public.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cablekey keygen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The lab's output is its table; its logs only say what went wrong.
    let default = if matches!(cli.command, Command::Lab(_) | Command::Bench(_)) {
        "warn"
    } else {
        "info"
    };
    init_logs(cli.log_format, default);
    match cli.command {
        Command::Lab(args) => cli::lab::run(args),
        Command::Controller(args) => cli::controller::run(args),
        Command::Cta(args) => cli::cta::run(args),
        Command::Pots(args) => cli::pots::run(args),
        Command::Calea(args) => cli::calea::run(args),
        Command::Hil => not_yet("hil", 5),
        Command::Keygen { private, public } => keygen(&private, &public),
        Command::Ca(cmd) => cli::ca::run(cmd),
        Command::Audit(AuditCommand::Verify { file }) => cli::audit::verify(&file),
        Command::Mgcp(cmd) => cli::mgcp::run(cmd),
        Command::Bench(cmd) => cli::bench::run(cmd),
    }
}
