//! `cablekey ca`: a small head-end CA for the LI API's mutual TLS, until
//! enrollment (issue 4) provides certificates. ECDSA P-256 keys, PEM files:
//! `<dir>/ca.crt`, `<dir>/ca.key`, `<dir>/<name>.crt`, `<dir>/<name>.key`.
//! Keys are written with mode 0600; nothing is ever overwritten.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use cablekey_keyfile::{write_new, KeyFileError};
use clap::{Args, Subcommand};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::OffsetDateTime;

/// The CA's subject. Issuing rebuilds the issuer from it and the CA key,
/// so it must never change.
const CA_NAME: &str = "cablekey head-end CA";

#[derive(Subcommand)]
pub enum CaCommand {
    /// Create the CA: a key (0600) and a self-signed certificate.
    Init {
        #[arg(long, default_value = "ca")]
        dir: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Issue a certificate and key for a server (the controller) or a
    /// client (the CALEA server).
    Issue(IssueArgs),
}

#[derive(Args)]
pub struct IssueArgs {
    #[arg(long, default_value = "ca")]
    dir: PathBuf,
    /// Subject common name, and the files' name: <dir>/<name>.crt and .key.
    #[arg(long)]
    name: String,
    /// A server certificate for these IP addresses and DNS names (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        conflicts_with = "client",
        required_unless_present = "client"
    )]
    server: Vec<String>,
    /// A client certificate (TLS client authentication).
    #[arg(long)]
    client: bool,
    /// Validity in days.
    #[arg(long, default_value_t = 825)]
    days: u32,
}

impl IssueArgs {
    /// For in-process use (`cablekey lab`): a server certificate for
    /// `server` (IP addresses, DNS names), or a client one if it is empty.
    pub fn new(dir: &Path, name: &str, server: Vec<String>) -> IssueArgs {
        IssueArgs {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            client: server.is_empty(),
            server,
            days: 2,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error(transparent)]
    File(#[from] KeyFileError),
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: already exists; refusing to overwrite")]
    Exists(PathBuf),
    #[error("name {0:?}: use 1 to 64 letters, digits, '.', '_' or '-' (not starting with '.'), and not \"ca\"")]
    BadName(String),
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("{0}: not this CA's key ({1})")]
    BadKey(PathBuf, rcgen::Error),
    #[error("validity of {0} days is out of range")]
    BadDays(u32),
}

fn validity(params: &mut CertificateParams, days: u32) -> Result<(), CaError> {
    if days == 0 || days > 36_500 {
        return Err(CaError::BadDays(days));
    }
    let now = OffsetDateTime::now_utc();
    // An hour back: clocks of the two ends differ a little.
    params.not_before = now - Duration::from_secs(3600);
    params.not_after = now + Duration::from_secs(u64::from(days) * 86_400);
    Ok(())
}

fn refuse_existing(paths: &[&Path]) -> Result<(), CaError> {
    match paths.iter().find(|p| p.exists()) {
        Some(p) => Err(CaError::Exists(p.to_path_buf())),
        None => Ok(()),
    }
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, CA_NAME);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

pub fn init(dir: &Path, days: u32) -> Result<PathBuf, CaError> {
    let (crt, key) = (dir.join("ca.crt"), dir.join("ca.key"));
    refuse_existing(&[&crt, &key])?;
    create_dir(dir)?;
    let mut params = ca_params();
    validity(&mut params, days)?;
    let kp = KeyPair::generate()?;
    let cert = params.self_signed(&kp)?;
    let pem = zeroize::Zeroizing::new(kp.serialize_pem());
    write_new(&key, 0o600, pem.as_bytes())?;
    write_new(&crt, 0o644, cert.pem().as_bytes())?;
    Ok(crt)
}

fn create_dir(dir: &Path) -> Result<(), CaError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| CaError::Read {
            path: dir.into(),
            source,
        })
}

fn check_name(name: &str) -> Result<(), CaError> {
    // Same rule as case ids: the name becomes a file name.
    if cablekey_protocol::li::valid_case_id(name) && name != "ca" {
        Ok(())
    } else {
        Err(CaError::BadName(name.into()))
    }
}

pub fn issue(a: &IssueArgs) -> Result<PathBuf, CaError> {
    check_name(&a.name)?;
    let (crt, key) = (
        a.dir.join(format!("{}.crt", a.name)),
        a.dir.join(format!("{}.key", a.name)),
    );
    refuse_existing(&[&crt, &key])?;
    let ca_key_path = a.dir.join("ca.key");
    // The CA key is as sensitive as any: the same permission rule.
    cablekey_keyfile::tls::load_key(&ca_key_path).map_err(|e| CaError::Read {
        path: ca_key_path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let ca_pem =
        zeroize::Zeroizing::new(std::fs::read_to_string(&ca_key_path).map_err(|source| {
            CaError::Read {
                path: ca_key_path.clone(),
                source,
            }
        })?);
    let ca_key = KeyPair::from_pem(&ca_pem).map_err(|e| CaError::BadKey(ca_key_path, e))?;
    let issuer = Issuer::new(ca_params(), ca_key);
    let mut params = CertificateParams::new(a.server.clone())?;
    params.distinguished_name.push(DnType::CommonName, &a.name);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![if a.client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    validity(&mut params, a.days)?;
    let kp = KeyPair::generate()?;
    let cert = params.signed_by(&kp, &issuer)?;
    let pem = zeroize::Zeroizing::new(kp.serialize_pem());
    write_new(&key, 0o600, pem.as_bytes())?;
    write_new(&crt, 0o644, cert.pem().as_bytes())?;
    Ok(crt)
}

pub fn run(cmd: CaCommand) -> ExitCode {
    let result = match &cmd {
        CaCommand::Init { dir, days } => init(dir, *days),
        CaCommand::Issue(a) => issue(a),
    };
    match result {
        Ok(crt) => {
            let key = crt.with_extension("key");
            println!("wrote {} and {} (0600)", crt.display(), key.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cablekey ca: {e}");
            ExitCode::FAILURE
        }
    }
}
