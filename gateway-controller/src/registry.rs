//! Endpoints the controller serves and the dial plan over them.
//!
//! Endpoints come from configuration (name, kind, subscriber number) and
//! their addresses from configuration or from the RSIP a gateway sends when
//! it starts. The dial plan maps a dialed number to one endpoint, or, for
//! numbers no endpoint owns, by longest matching prefix to a group of
//! POTS-gateway trunks (`docs/pots.md`).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;

use cablekey_protocol::mgcp::EndpointName;
use cablekey_protocol::secret::SecretBytes;

/// What sits behind an endpoint name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A CTA subscriber line, `aaln/N@domain`.
    Line,
    /// A POTS-gateway trunk endpoint.
    Trunk,
}

/// Why configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("{0:?} is not an endpoint name")]
    BadName(String),
    #[error("{0:?} is not a concrete endpoint (wildcards are only for RSIP)")]
    Wildcard(String),
    #[error("endpoint {0:?} is configured twice")]
    DuplicateEndpoint(String),
    #[error("number {0:?} is assigned twice")]
    DuplicateNumber(String),
    #[error("number {0:?} is not a string of dial digits")]
    BadNumber(String),
    #[error("no endpoint {0:?}")]
    Unknown(String),
    #[error("trunk route prefix {0:?} is not a string of dial digits (or empty for every number)")]
    BadPrefix(String),
    #[error("trunk route prefix {0:?} is configured twice")]
    DuplicatePrefix(String),
    #[error("a trunk route names {0:?}, which is not a configured trunk endpoint")]
    NotATrunk(String),
    #[error("a trunk route needs at least one trunk")]
    NoTrunks,
}

/// One endpoint. The session key is the signaling key shared with the
/// device (from registration). `Debug` shows neither the number (personal
/// data) nor the key.
pub struct Endpoint {
    /// As configured; lookups ignore case.
    pub name: String,
    pub kind: Kind,
    pub number: Option<String>,
    /// Where its gateway listens; unknown until configured or an RSIP.
    pub addr: Option<SocketAddr>,
    pub session_key: Option<SecretBytes>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("addr", &self.addr)
            .field(
                "session_key",
                &self.session_key.as_ref().map(|k| k.fingerprint()),
            )
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
pub struct Registry {
    /// By lower-case name. Hashed: looked up several times per message,
    /// and names share long prefixes a B-tree would compare again and again.
    endpoints: HashMap<String, Endpoint>,
    /// Number to the lower-case endpoint name.
    plan: BTreeMap<String, String>,
    /// Prefix (may be empty: every number) to its trunks, in the order
    /// they are tried.
    trunk_routes: BTreeMap<String, Vec<String>>,
}

/// Numbers are personal data: only how many.
impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("endpoints", &self.iter().collect::<Vec<_>>())
            .field("numbers", &self.plan.len())
            .field("trunk_routes", &self.trunk_routes.len())
            .finish()
    }
}

/// An endpoint name as the maps hold it: names compare without regard to
/// ASCII case (RFC 3435 section 2.1.1). Borrowed when already lowercase,
/// as gateways send them, so a lookup allocates nothing.
pub(crate) fn key_of(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Adds an endpoint from configuration, with its number in the dial plan.
    pub fn add(
        &mut self,
        name: &str,
        kind: Kind,
        number: Option<&str>,
        addr: Option<SocketAddr>,
    ) -> Result<(), RegistryError> {
        let parsed = EndpointName::parse(name).ok_or(RegistryError::BadName(name.into()))?;
        if parsed.is_wildcard() {
            return Err(RegistryError::Wildcard(name.into()));
        }
        let key = key_of(name).into_owned();
        if self.endpoints.contains_key(&key) {
            return Err(RegistryError::DuplicateEndpoint(name.into()));
        }
        if let Some(n) = number {
            if n.is_empty() || n.len() > 32 || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(RegistryError::BadNumber(n.into()));
            }
            if self.plan.contains_key(n) {
                return Err(RegistryError::DuplicateNumber(n.into()));
            }
            self.plan.insert(n.into(), key.clone());
        }
        let endpoint = Endpoint {
            name: name.into(),
            kind,
            number: number.map(Into::into),
            addr,
            session_key: None,
        };
        self.endpoints.insert(key, endpoint);
        Ok(())
    }

    /// Sets the signaling session key shared with the device of `name`.
    pub fn set_session_key(&mut self, name: &str, key: SecretBytes) -> Result<(), RegistryError> {
        let ep = self
            .endpoints
            .get_mut(&*key_of(name))
            .ok_or(RegistryError::Unknown(name.into()))?;
        ep.session_key = Some(key);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.get(&*key_of(name))
    }

    /// The endpoint a dialed number reaches, if the plan has it (its
    /// address may still be unknown).
    pub fn route(&self, number: &str) -> Option<&Endpoint> {
        self.endpoints.get(self.plan.get(number)?)
    }

    /// Routes numbers starting with `prefix` (empty: any number no
    /// endpoint owns) to `trunks`, configured trunk endpoints tried in this
    /// order. An exact number in the plan always wins; then the longest
    /// prefix.
    pub fn add_trunk_route(&mut self, prefix: &str, trunks: &[&str]) -> Result<(), RegistryError> {
        if prefix.len() > 32 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RegistryError::BadPrefix(prefix.into()));
        }
        if self.trunk_routes.contains_key(prefix) {
            return Err(RegistryError::DuplicatePrefix(prefix.into()));
        }
        if trunks.is_empty() {
            return Err(RegistryError::NoTrunks);
        }
        let mut names = Vec::new();
        for t in trunks {
            match self.get(t) {
                Some(e) if e.kind == Kind::Trunk => names.push(e.name.clone()),
                _ => return Err(RegistryError::NotATrunk((*t).into())),
            }
        }
        self.trunk_routes.insert(prefix.into(), names);
        Ok(())
    }

    /// The trunks a number no endpoint owns goes out on: those of the
    /// longest configured prefix it starts with.
    pub fn trunks_for(&self, number: &str) -> Option<&[String]> {
        self.trunk_routes
            .iter()
            .filter(|(p, _)| number.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, t)| t.as_slice())
    }

    /// A gateway announced a restart for `pattern` from `from`: records the
    /// address of every endpoint it names and returns their names. A
    /// concrete name not configured is learned as a line without a number.
    pub fn restarted(&mut self, pattern: &EndpointName<'_>, from: SocketAddr) -> Vec<String> {
        if !pattern.is_wildcard() {
            let name = pattern.to_string();
            let ep = self
                .endpoints
                .entry(key_of(&name).into_owned())
                .or_insert_with(|| Endpoint {
                    name,
                    kind: Kind::Line,
                    number: None,
                    addr: None,
                    session_key: None,
                });
            ep.addr = Some(from);
            return vec![ep.name.clone()];
        }
        let mut names = Vec::new();
        for ep in self.endpoints.values_mut() {
            let matches = EndpointName::parse(&ep.name).is_some_and(|n| pattern.matches(&n));
            if matches {
                ep.addr = Some(from);
                names.push(ep.name.clone());
            }
        }
        names.sort_by_cached_key(|n| key_of(n).into_owned());
        names
    }

    /// An address from an earlier run (the gateway book): taken only by an
    /// endpoint with none, as an RSIP from it would; a concrete name not
    /// configured is learned as a line without a number. Whether it was taken.
    pub fn remembered(&mut self, name: &str, addr: SocketAddr) -> bool {
        let Some(parsed) = EndpointName::parse(name).filter(|n| !n.is_wildcard()) else {
            return false;
        };
        if self.get(name).is_some_and(|e| e.addr.is_some()) {
            return false;
        }
        !self.restarted(&parsed, addr).is_empty()
    }

    /// Every endpoint, by lower-case name.
    pub fn iter(&self) -> impl Iterator<Item = &Endpoint> {
        let mut all: Vec<(&String, &Endpoint)> = self.endpoints.iter().collect();
        all.sort_unstable_by_key(|&(k, _)| k);
        all.into_iter().map(|(_, e)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 2], p))
    }

    #[test]
    fn rsip_wildcard_sets_addresses_of_configured_lines_only() {
        let mut r = Registry::new();
        r.add("aaln/1@cta1.example", Kind::Line, Some("1001"), None)
            .unwrap();
        r.add("aaln/2@cta1.example", Kind::Line, Some("1002"), None)
            .unwrap();
        r.add("aaln/1@cta2.example", Kind::Line, Some("2001"), None)
            .unwrap();
        assert_eq!(r.route("1001").unwrap().addr, None, "no address yet");
        let pat = EndpointName::parse("aaln/*@CTA1.example").unwrap();
        let names = r.restarted(&pat, addr(2427));
        assert_eq!(names, ["aaln/1@cta1.example", "aaln/2@cta1.example"]);
        assert_eq!(r.route("1002").unwrap().addr, Some(addr(2427)));
        assert_eq!(r.route("2001").unwrap().addr, None);
        assert!(r.route("9999").is_none());
    }

    #[test]
    fn concrete_rsip_learns_an_endpoint() {
        let mut r = Registry::new();
        let pat = EndpointName::parse("aaln/3@cta9.example").unwrap();
        assert_eq!(r.restarted(&pat, addr(1)), ["aaln/3@cta9.example"]);
        assert_eq!(r.get("AALN/3@cta9.example").unwrap().addr, Some(addr(1)));
    }

    #[test]
    fn a_lowercase_name_is_its_own_key() {
        assert!(matches!(key_of("aaln/1@cta1.example"), Cow::Borrowed(_)));
        assert_eq!(key_of("AALN/1@Cta1.example"), "aaln/1@cta1.example");
    }

    #[test]
    fn configuration_errors_are_named() {
        let mut r = Registry::new();
        r.add("aaln/1@a", Kind::Line, Some("1"), None).unwrap();
        assert!(matches!(
            r.add("aaln/1@A", Kind::Line, None, None),
            Err(RegistryError::DuplicateEndpoint(_))
        ));
        assert!(matches!(
            r.add("aaln/2@a", Kind::Line, Some("1"), None),
            Err(RegistryError::DuplicateNumber(_))
        ));
        assert!(matches!(
            r.add("aaln/*@a", Kind::Line, None, None),
            Err(RegistryError::Wildcard(_))
        ));
        assert!(matches!(
            r.add("aaln/3@a", Kind::Trunk, Some("12a"), None),
            Err(RegistryError::BadNumber(_))
        ));
    }

    #[test]
    fn numbers_nobody_owns_go_out_on_the_longest_matching_trunk_route() {
        let mut r = Registry::new();
        r.add("aaln/1@a", Kind::Line, Some("2001"), None).unwrap();
        for i in 1..=3 {
            r.add(&format!("ds/ds1-1/{i}@gw"), Kind::Trunk, None, None)
                .unwrap();
        }
        r.add_trunk_route("9", &["ds/ds1-1/1@gw", "DS/ds1-1/2@gw"])
            .unwrap();
        r.add_trunk_route("", &["ds/ds1-1/3@gw"]).unwrap();
        assert_eq!(
            r.trunks_for("95551234").unwrap(),
            ["ds/ds1-1/1@gw", "ds/ds1-1/2@gw"]
        );
        assert_eq!(r.trunks_for("5551234").unwrap(), ["ds/ds1-1/3@gw"]);
        assert_eq!(r.route("2001").unwrap().name, "aaln/1@a");
        assert!(matches!(
            r.add_trunk_route("9", &["ds/ds1-1/3@gw"]),
            Err(RegistryError::DuplicatePrefix(_))
        ));
        assert!(matches!(
            r.add_trunk_route("8", &["aaln/1@a"]),
            Err(RegistryError::NotATrunk(_))
        ));
        assert!(matches!(
            r.add_trunk_route("8a", &["ds/ds1-1/3@gw"]),
            Err(RegistryError::BadPrefix(_))
        ));
        assert!(matches!(
            r.add_trunk_route("7", &[]),
            Err(RegistryError::NoTrunks)
        ));
        let mut none = Registry::new();
        none.add("aaln/1@a", Kind::Line, Some("2001"), None)
            .unwrap();
        assert!(none.trunks_for("95551234").is_none());
    }

    #[test]
    fn debug_shows_no_session_key() {
        let mut r = Registry::new();
        r.add("aaln/1@a", Kind::Line, None, None).unwrap();
        r.set_session_key("aaln/1@a", SecretBytes::new(&[0x41; 32]).unwrap())
            .unwrap();
        r.add("aaln/2@a", Kind::Line, Some("5551234"), None)
            .unwrap();
        let text = format!("{r:?}");
        assert!(!text.contains("5551234"), "{text}");
        assert!(text.contains("fp:") && !text.contains("AAAA") && !text.contains("65, 65"));
    }
}
