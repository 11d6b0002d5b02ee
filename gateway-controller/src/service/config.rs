//! The controller's TOML configuration: read, checked, and turned into the
//! call core's [`Config`] and [`Registry`]. Every error names the file and
//! the setting at fault.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cablekey_protocol::mgcp::transaction::MAX_HISTORY;
use cablekey_protocol::srtp::Suite;
use serde::Deserialize;

use crate::anchor::Anchor;
use crate::escrow::keyfile;
use crate::keys::KeyMode;
use crate::registry::{Kind, Registry, RegistryError};
use crate::Config;

/// The example in the README and `cablekey controller --help`.
pub const EXAMPLE: &str = r#"# cablekey controller configuration
[mgcp]
listen = "127.0.0.1:2727"          # where gateways send MGCP
# max_history = 262144             # transactions kept 30 s each way (RFC 3435);
                                   # about 6.5 per call setup: this serves
                                   # 1,300 setups/s, 4194304 (the most) 20,000

[escrow]
dir = "./data"                     # sled store (created if missing)
le_public_key = "le-public.key"    # from `cablekey keygen`; required
epoch_secs = 30                    # epoch key lifetime (docs/escrow.md)

[calls]
key_mode = "random"                # or "derived"
suite = "AEAD_AES_128_GCM"         # AEAD_AES_256_GCM, AES_CM_128_HMAC_SHA1_80, AEAD_CHACHA20_POLY1305
no_answer_secs = 60
max_calls = 10000
# digit_map = "(0T|00T|[1-7]xxx|8xxxxxxx|#xxxxxxx|*xx|91xxxxxxxxxx|9011x.T)"

# [metrics]
# listen = "127.0.0.1:9427"        # Prometheus text at /metrics

# [li]                             # lawful-intercept API, mutual TLS (docs/li.md)
# listen = "127.0.0.1:7443"
# ca_cert = "ca/ca.crt"            # client certificates must chain to it (`cablekey ca`)
# cert = "ca/controller.crt"
# key = "ca/controller.key"        # mode 0600, else the controller does not start
# audit_log = "li-audit.log"       # append-only, hash-chained (`cablekey audit verify`)
# allowed_clients = ["CN=calea"]   # or "sha256:<cert hash>", "serial:<hex>"; absent: any of the CA's
# revoked_clients = "li-revoked.txt"  # one id a line, reloaded when it changes

# [anchor]                         # relay media through a media gateway (osmo-mgw)
# mgw = "127.0.0.1:2428"           # its MGCP address; it never gets a key
# domain = "mgw"                   # its endpoints: rtpbridge/N@mgw

[[endpoint]]
name = "aaln/1@cta1.lab"
number = "2001"
# addr = "127.0.0.20:2427"         # else learned from the gateway's RSIP
# kind = "line"                    # or "trunk" (POTS gateway)
# session_key_file = "keys/cta1.session"  # signaling session key shared with
#                                  # the CTA, for key_mode = "derived"; mode 0600

# A POTS gateway's trunks (docs/pots.md) and the numbers that go out on them:
# [[endpoint]]
# name = "ds/ds1-1/1@gw1.lab"
# kind = "trunk"
# [[trunk_route]]
# prefix = "9"                     # longest prefix wins; "" = every number no endpoint owns
# trunks = ["ds/ds1-1/1@gw1.lab"]  # tried in this order
"#;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: {setting}: {message}")]
    Invalid {
        path: PathBuf,
        setting: String,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    mgcp: MgcpSection,
    escrow: EscrowSection,
    #[serde(default)]
    calls: CallsSection,
    #[serde(default)]
    metrics: Option<MetricsSection>,
    #[serde(default)]
    anchor: Option<AnchorSection>,
    #[serde(default)]
    li: Option<LiSection>,
    #[serde(default)]
    endpoint: Vec<EndpointEntry>,
    #[serde(default)]
    trunk_route: Vec<TrunkRouteEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrunkRouteEntry {
    prefix: String,
    trunks: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnchorSection {
    mgw: SocketAddr,
    #[serde(default = "default_mgw_domain")]
    domain: String,
}

fn default_mgw_domain() -> String {
    "mgw".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LiSection {
    listen: SocketAddr,
    ca_cert: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    audit_log: PathBuf,
    #[serde(default)]
    allowed_clients: Vec<String>,
    #[serde(default)]
    revoked_clients: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MgcpSection {
    listen: SocketAddr,
    /// Transactions remembered each way for RFC 3435's 30 s history.
    max_history: Option<usize>,
    /// Commands of ours awaiting an answer.
    max_outstanding: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EscrowSection {
    #[serde(default = "default_dir")]
    dir: PathBuf,
    le_public_key: PathBuf,
    #[serde(default = "default_epoch_secs")]
    epoch_secs: u64,
}

fn default_dir() -> PathBuf {
    crate::escrow::DEFAULT_DIR.into()
}

fn default_epoch_secs() -> u64 {
    30
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallsSection {
    key_mode: Option<String>,
    suite: Option<String>,
    digit_map: Option<String>,
    no_answer_secs: Option<u64>,
    max_calls: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsSection {
    listen: SocketAddr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointEntry {
    pub name: String,
    pub number: Option<String>,
    pub addr: Option<SocketAddr>,
    #[serde(default)]
    pub kind: Option<String>,
    /// The signaling session key shared with the device (derived call
    /// keys); relative to the configuration file.
    #[serde(default)]
    pub session_key_file: Option<PathBuf>,
}

/// The call core as a head-end runs it: the transaction layer's library
/// defaults (8,192 transactions kept 30 s) would cap a controller at about
/// 270 commands a second; 262,144 allow about 8,700.
fn service_core() -> Config {
    let mut core = Config::default();
    core.transaction.max_history = 1 << 18;
    core.transaction.max_outstanding = 4096;
    core
}

/// A checked configuration, ready to start a controller.
pub struct Settings {
    pub listen: SocketAddr,
    pub store_dir: PathBuf,
    pub le_public_key: PathBuf,
    pub epoch: Duration,
    pub metrics: Option<SocketAddr>,
    /// The lawful-intercept API, if configured.
    pub li: Option<crate::li::LiSettings>,
    pub core: Config,
    pub registry: Registry,
}

impl Settings {
    /// Defaults for everything but what only the operator knows.
    pub fn new(listen: SocketAddr, store_dir: PathBuf, le_public_key: PathBuf) -> Settings {
        Settings {
            listen,
            store_dir,
            le_public_key,
            epoch: Duration::from_secs(default_epoch_secs()),
            metrics: None,
            li: None,
            core: service_core(),
            registry: Registry::new(),
        }
    }

    /// Reads and checks a configuration file. Relative paths in it are
    /// taken from the file's directory.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Settings::parse(path, &text)
    }

    /// Checks `text` as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Settings, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.into(),
            message: e.to_string().trim_end().into(),
        })?;
        let invalid = |setting: &str, message: String| ConfigError::Invalid {
            path: path.into(),
            setting: setting.into(),
            message,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let mut s = Settings::new(
            file.mgcp.listen,
            base.join(&file.escrow.dir),
            base.join(&file.escrow.le_public_key),
        );
        if !(1..=86_400).contains(&file.escrow.epoch_secs) {
            return Err(invalid(
                "escrow.epoch_secs",
                "must be 1 to 86400 seconds".into(),
            ));
        }
        s.epoch = Duration::from_secs(file.escrow.epoch_secs);
        s.metrics = file.metrics.map(|m| m.listen);
        if let Some(n) = file.mgcp.max_history {
            if !(256..=MAX_HISTORY).contains(&n) {
                let why = format!("must be 256 to {MAX_HISTORY}");
                return Err(invalid("mgcp.max_history", why));
            }
            s.core.transaction.max_history = n;
        }
        if let Some(n) = file.mgcp.max_outstanding {
            if !(16..=1 << 20).contains(&n) {
                return Err(invalid(
                    "mgcp.max_outstanding",
                    "must be 16 to 1048576".into(),
                ));
            }
            s.core.transaction.max_outstanding = n;
        }
        if let Some(li) = file.li {
            if li.listen.port() == 0 {
                return Err(invalid("li.listen", "needs a port".into()));
            }
            for (setting, p) in [
                ("li.ca_cert", &li.ca_cert),
                ("li.cert", &li.cert),
                ("li.key", &li.key),
                ("li.audit_log", &li.audit_log),
            ] {
                if p.as_os_str().is_empty() {
                    return Err(invalid(setting, "must name a file".into()));
                }
            }
            let mut allowed_clients = Vec::new();
            for id in &li.allowed_clients {
                match id.parse() {
                    Ok(id) => allowed_clients.push(id),
                    Err(e) => return Err(invalid("li.allowed_clients", format!("{e}"))),
                }
            }
            s.li = Some(crate::li::LiSettings {
                allowed_clients,
                revoked_clients: li.revoked_clients.map(|p| base.join(p)),
                listen: li.listen,
                ca_cert: base.join(li.ca_cert),
                cert: base.join(li.cert),
                key: base.join(li.key),
                audit_log: base.join(li.audit_log),
            });
        }
        let calls = file.calls;
        if let Some(mode) = calls.key_mode {
            s.core.key_mode = match mode.as_str() {
                "random" => KeyMode::Random,
                "derived" => KeyMode::Derived,
                other => {
                    return Err(invalid(
                        "calls.key_mode",
                        format!("{other:?}: expected \"random\" or \"derived\""),
                    ))
                }
            };
        }
        if let Some(suite) = calls.suite {
            s.core.suite =
                Suite::from_name(&suite).map_err(|e| invalid("calls.suite", format!("{e}")))?;
        }
        if let Some(map) = calls.digit_map {
            if map.is_empty() || map.contains(['\r', '\n']) {
                return Err(invalid(
                    "calls.digit_map",
                    "must be one non-empty line".into(),
                ));
            }
            s.core.digit_map = map;
        }
        if let Some(secs) = calls.no_answer_secs {
            if !(1..=3600).contains(&secs) {
                return Err(invalid("calls.no_answer_secs", "must be 1 to 3600".into()));
            }
            s.core.no_answer = Duration::from_secs(secs);
        }
        if let Some(max) = calls.max_calls {
            if max == 0 {
                return Err(invalid("calls.max_calls", "must be at least 1".into()));
            }
            s.core.max_calls = max;
        }
        if let Some(a) = file.anchor {
            if a.mgw.port() == 0 || a.mgw.ip().is_unspecified() {
                return Err(invalid("anchor.mgw", "needs an address and a port".into()));
            }
            let anchor = Anchor::new(a.mgw, &a.domain)
                .map_err(|e| invalid("anchor.domain", e.to_string()))?;
            s.core.anchor = Some(anchor);
        }
        for (i, e) in file.endpoint.iter().enumerate() {
            let setting = format!("endpoint[{i}] ({})", e.name);
            if s.core.anchor.as_ref().is_some_and(|a| a.serves(&e.name)) {
                let why = "is in the media gateway's domain (anchor.domain)";
                return Err(invalid(&setting, why.into()));
            }
            add_endpoint(&mut s.registry, e).map_err(|m| invalid(&setting, m))?;
            if let Some(file) = &e.session_key_file {
                // The error names the file and why, never the key.
                let key = keyfile::load_session_key(&base.join(file)).map_err(|err| {
                    invalid(&format!("{setting}.session_key_file"), err.to_string())
                })?;
                s.registry
                    .set_session_key(&e.name, key)
                    .map_err(|err| invalid(&setting, err.to_string()))?;
            }
        }
        for (i, r) in file.trunk_route.iter().enumerate() {
            let trunks: Vec<&str> = r.trunks.iter().map(String::as_str).collect();
            s.registry
                .add_trunk_route(&r.prefix, &trunks)
                .map_err(|e| invalid(&format!("trunk_route[{i}]"), e.to_string()))?;
        }
        Ok(s)
    }
}

/// Adds one configured endpoint.
pub fn add_endpoint(registry: &mut Registry, e: &EndpointEntry) -> Result<(), String> {
    let kind = match e.kind.as_deref() {
        None | Some("line") => Kind::Line,
        Some("trunk") => Kind::Trunk,
        Some(other) => return Err(format!("kind {other:?}: expected \"line\" or \"trunk\"")),
    };
    registry
        .add(&e.name, kind, e.number.as_deref(), e.addr)
        .map_err(|e: RegistryError| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        Settings::parse(Path::new("/etc/cablekey/controller.toml"), text)
    }

    #[test]
    fn trunk_routes_are_read_and_checked() {
        let trunks = "[[endpoint]]\nname = \"ds/ds1-1/1@gw\"\nkind = \"trunk\"\n";
        let base = EXAMPLE.to_string() + trunks;
        let s = parse(
            &(base.clone() + "[[trunk_route]]\nprefix = \"9\"\ntrunks = [\"ds/ds1-1/1@gw\"]\n"),
        )
        .unwrap();
        assert_eq!(
            s.registry.trunks_for("95551234").unwrap(),
            ["ds/ds1-1/1@gw"]
        );
        let err =
            parse(&(base + "[[trunk_route]]\nprefix = \"9\"\ntrunks = [\"aaln/1@cta1.lab\"]\n"))
                .err()
                .unwrap()
                .to_string();
        assert!(
            err.contains("trunk_route[0]") && err.contains("not a configured trunk"),
            "{err}"
        );
    }

    #[test]
    fn the_example_is_valid() {
        let s = parse(EXAMPLE).unwrap();
        assert_eq!(s.listen, "127.0.0.1:2727".parse().unwrap());
        assert_eq!(s.store_dir, Path::new("/etc/cablekey/./data"));
        assert_eq!(s.le_public_key, Path::new("/etc/cablekey/le-public.key"));
        assert_eq!(s.registry.route("2001").unwrap().name, "aaln/1@cta1.lab");
        assert_eq!(s.core.key_mode, KeyMode::Random);
        assert_eq!(s.core.anchor, None);
        assert_eq!(s.li, None);
        let with_li = EXAMPLE
            .replace("# [li]", "[li]")
            .replace(
                "# listen = \"127.0.0.1:7443\"",
                "listen = \"127.0.0.1:7443\"",
            )
            .replace("# ca_cert", "ca_cert")
            .replace("# cert", "cert")
            .replace("# key =", "key =")
            .replace("# audit_log", "audit_log");
        let li = parse(&with_li).unwrap().li.unwrap();
        assert_eq!(li.key, Path::new("/etc/cablekey/ca/controller.key"));
        assert_eq!(li.audit_log, Path::new("/etc/cablekey/li-audit.log"));
        let anchored = EXAMPLE
            .replace("# [anchor]", "[anchor]")
            .replace("# mgw =", "mgw =")
            .replace("# domain =", "domain =");
        let s = parse(&anchored).unwrap();
        let a = s.core.anchor.unwrap();
        assert_eq!(
            (a.mgw, a.domain()),
            ("127.0.0.1:2428".parse().unwrap(), "mgw")
        );
    }

    #[test]
    fn session_keys_are_loaded_per_endpoint_with_strict_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = cablekey_protocol::secret::SecretBytes::new(&[0x42; 32]).unwrap();
        keyfile::write_session_key(&dir.path().join("cta1.session"), &key).unwrap();
        let config = dir.path().join("controller.toml");
        let text = "[mgcp]\nlisten = \"127.0.0.1:2727\"\n[escrow]\nle_public_key = \"k\"\n\
                    [calls]\nkey_mode = \"derived\"\n\
                    [[endpoint]]\nname = \"aaln/1@cta1.lab\"\nnumber = \"2001\"\n\
                    session_key_file = \"cta1.session\"\n\
                    [[endpoint]]\nname = \"aaln/1@cta2.lab\"\nnumber = \"2002\"\n";
        let s = Settings::parse(&config, text).unwrap();
        assert_eq!(s.core.key_mode, KeyMode::Derived);
        let ep = s.registry.get("aaln/1@cta1.lab").unwrap();
        assert!(ep.session_key.as_ref().unwrap().ct_eq(&key));
        assert!(s
            .registry
            .get("aaln/1@cta2.lab")
            .unwrap()
            .session_key
            .is_none());

        use base64::Engine;
        let secret = base64::engine::general_purpose::STANDARD.encode(key.expose());
        let open = dir.path().join("cta1.session");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Settings::parse(&config, text).err().unwrap().to_string();
        assert!(
            err.contains("endpoint[0] (aaln/1@cta1.lab).session_key_file: ")
                && err.contains("chmod 600"),
            "{err}"
        );
        assert!(!err.contains(&secret), "{err}");
        let missing = text.replace("cta1.session", "nope.session");
        let err = Settings::parse(&config, &missing)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("nope.session"), "{err}");
    }

    #[test]
    fn errors_name_the_setting() {
        let base = "[mgcp]\nlisten = \"127.0.0.1:2727\"\n[escrow]\nle_public_key = \"k\"\n";
        let cases = [
            ("[calls]\nkey_mode = \"clever\"\n", "calls.key_mode"),
            ("[calls]\nsuite = \"ROT13\"\n", "calls.suite"),
            ("[calls]\nmax_calls = 0\n", "calls.max_calls"),
            (
                "[[endpoint]]\nname = \"aaln/*@x\"\nnumber = \"1\"\n",
                "endpoint[0] (aaln/*@x)",
            ),
            (
                "[[endpoint]]\nname = \"aaln/1@x\"\nnumber = \"1\"\n[[endpoint]]\nname = \"aaln/2@x\"\nnumber = \"1\"\n",
                "endpoint[1] (aaln/2@x)",
            ),
        ];
        for (extra, setting) in cases {
            let err = parse(&format!("{base}{extra}")).err().unwrap().to_string();
            assert!(
                err.starts_with(&format!("/etc/cablekey/controller.toml: {setting}: ")),
                "{err}"
            );
        }
        let err = parse("[mgcp]\nlisten = \"nowhere\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("listen"), "{err}");
        let err = parse(&format!("{base}[calls]\ncolour = 1\n"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("unknown field `colour`"), "{err}");
        for (extra, setting) in [
            ("[anchor]\nmgw = \"0.0.0.0:2428\"\n", "anchor.mgw"),
            ("[anchor]\nmgw = \"127.0.0.1:0\"\n", "anchor.mgw"),
            (
                "[anchor]\nmgw = \"127.0.0.1:2428\"\ndomain = \"m g w\"\n",
                "anchor.domain",
            ),
            (
                "[anchor]\nmgw = \"127.0.0.1:2428\"\n[[endpoint]]\nname = \"aaln/1@MGW\"\n",
                "endpoint[0] (aaln/1@MGW)",
            ),
            (
                "[li]\nlisten = \"127.0.0.1:0\"\nca_cert = \"a\"\ncert = \"b\"\nkey = \"c\"\naudit_log = \"d\"\n",
                "li.listen",
            ),
            (
                "[li]\nlisten = \"127.0.0.1:1\"\nca_cert = \"\"\ncert = \"b\"\nkey = \"c\"\naudit_log = \"d\"\n",
                "li.ca_cert",
            ),
            (
                "[li]\nlisten = \"127.0.0.1:1\"\nca_cert = \"a\"\ncert = \"b\"\nkey = \"c\"\naudit_log = \"d\"\nallowed_clients = [\"calea\"]\n",
                "li.allowed_clients",
            ),
        ] {
            let err = parse(&format!("{base}{extra}")).err().unwrap().to_string();
            assert!(err.contains(&format!(": {setting}: ")), "{err}");
        }
        let missing = parse("[mgcp]\nlisten = \"127.0.0.1:1\"\n[escrow]\n")
            .err()
            .unwrap();
        assert!(missing.to_string().contains("le_public_key"), "{missing}");
    }
}
