//! Which identifiers an order may ask for: names the CA may issue for (its
//! name constraints, and those of the CAs above it) and, when the operator
//! gives any, only those under an allowed DNS suffix or inside an allowed
//! network. A refusal names the rule, so the person at the client knows
//! whom to ask.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use pki::{Ca, SubjectAltName};

use crate::problem::Problem;
use crate::store::Identifier;

/// One `--acme-allow` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow {
    /// A DNS name and everything under it (`team.test` allows `a.team.test`).
    Suffix(String),
    /// An IP network (`10.0.0.0/8`, `fd00::/8`, or one address).
    Network(IpAddr, u8),
}

impl FromStr for Allow {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        if let Ok(ip) = addr.parse::<IpAddr>() {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len = match len {
                Some(l) => l
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
                None => max,
            };
            return Ok(Allow::Network(ip, len));
        }
        if len.is_some() {
            return Err(format!("{s:?} is neither a DNS suffix nor an IP network"));
        }
        let suffix = s.trim_start_matches("*.").trim_start_matches('.');
        match SubjectAltName::parse(suffix) {
            Ok(SubjectAltName::Dns(name)) => Ok(Allow::Suffix(name.to_string())),
            _ => Err(format!(
                "{s:?} is neither a DNS suffix (team.test) nor an IP network (10.0.0.0/8)"
            )),
        }
    }
}

impl fmt::Display for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allow::Suffix(s) => f.write_str(s),
            Allow::Network(ip, len) => write!(f, "{ip}/{len}"),
        }
    }
}

impl Allow {
    fn permits(&self, name: &SubjectAltName) -> bool {
        match (self, name) {
            (Allow::Suffix(suffix), SubjectAltName::Dns(dns)) => {
                let dns = dns.as_str().trim_start_matches("*.");
                dns == suffix
                    || dns
                        .strip_suffix(suffix.as_str())
                        .is_some_and(|head| head.ends_with('.'))
            }
            (Allow::Network(net, len), SubjectAltName::Ip(ip)) => in_network(*ip, *net, *len),
            _ => false,
        }
    }
}

fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The rules an order's identifiers are held to.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    allow: Vec<Allow>,
}

impl Policy {
    /// Only names under these suffixes or networks (any name the CA may
    /// issue for when empty).
    pub fn new(allow: Vec<Allow>) -> Self {
        Policy { allow }
    }

    /// Reads an order's identifier into the name the certificate will
    /// carry, refusing what is malformed, unsupported or outside policy.
    pub fn check(&self, ca: &Ca, id: &Identifier) -> Result<SubjectAltName, Problem> {
        let name = match id.kind.as_str() {
            "dns" => match SubjectAltName::parse(&id.value) {
                Ok(name @ SubjectAltName::Dns(_)) => name,
                Ok(_) => {
                    return Err(Problem::malformed(format!(
                        "{:?} is not a DNS name; an IP address is an identifier of type \"ip\"",
                        id.value
                    )));
                }
                Err(e) => return Err(Problem::rejected_identifier(e.to_string())),
            },
            "ip" => match id.value.parse::<IpAddr>() {
                Ok(ip) => SubjectAltName::Ip(ip),
                Err(_) => {
                    return Err(Problem::malformed(format!(
                        "{:?} is not an IP address",
                        id.value
                    )));
                }
            },
            other => {
                return Err(Problem::unsupported_identifier(format!(
                    "identifiers of type {other:?} are not supported; use \"dns\" or \"ip\""
                )));
            }
        };
        if let Err(e) = ca.check_name_constraints(std::slice::from_ref(&name)) {
            return Err(Problem::rejected_identifier(format!(
                "{name}: the CA may not issue for it: {e}"
            )));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|a| a.permits(&name)) {
            let rules: Vec<String> = self.allow.iter().map(ToString::to_string).collect();
            return Err(Problem::rejected_identifier(format!(
                "{name} is outside what this server issues for (--acme-allow {})",
                rules.join(", ")
            )));
        }
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> SubjectAltName {
        SubjectAltName::parse(s).unwrap()
    }

    #[test]
    fn suffixes_match_whole_labels() {
        let allow: Allow = "team.test".parse().unwrap();
        assert!(allow.permits(&name("team.test")));
        assert!(allow.permits(&name("a.b.team.test")));
        assert!(allow.permits(&name("*.team.test")));
        assert!(!allow.permits(&name("evilteam.test")));
        assert!(!allow.permits(&name("10.0.0.1")));
    }

    #[test]
    fn networks_match_by_prefix() {
        let allow: Allow = "10.1.0.0/16".parse().unwrap();
        assert!(allow.permits(&name("10.1.200.3")));
        assert!(!allow.permits(&name("10.2.0.1")));
        let all: Allow = "::/0".parse().unwrap();
        assert!(all.permits(&name("::1")));
        assert_eq!(
            "10.0.0.0/33".parse::<Allow>().unwrap_err(),
            "\"10.0.0.0/33\": the prefix length must be 0 to 32"
        );
    }
}
