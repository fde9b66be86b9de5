//! Turning what a user types (`localhost`, `127.0.0.1`, `*.app.test`,
//! `bücher.example`, `spiffe://cluster/ns/web`) into subjectAltNames that
//! clients accept, and refusing at once, with the rule, what no client would
//! accept. Names are parsed once here and passed on as typed values.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use crate::error::{Error, Result};

/// Longest DNS label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;
/// Longest DNS name in presentation form (RFC 1035 §2.3.4, minus the root dot).
const MAX_NAME_LEN: usize = 253;
/// Longest email local part (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL_PART_LEN: usize = 64;

/// A DNS name in the ASCII form certificates carry: lowercase, punycode for
/// internationalised labels, possibly starting with the wildcard label `*.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsName(String);

impl DnsName {
    /// The name as it goes into the certificate.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the leftmost label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One subjectAltName entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubjectAltName {
    /// `DNS:` a host name or wildcard.
    Dns(DnsName),
    /// `IP:` an IPv4 or IPv6 address.
    Ip(IpAddr),
    /// `email:` an rfc822Name, for S/MIME and client certificates.
    Email(String),
    /// `URI:` for example a SPIFFE ID.
    Uri(String),
}

/// Why a typed name was refused: the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Nothing was typed.
    #[error("the name is empty")]
    Empty,
    /// `a..b`, `.a` or `a.`.
    #[error("it has an empty label (two dots in a row, or a dot at the start)")]
    EmptyLabel,
    /// A label over 63 characters.
    #[error("the label {label:?} is {len} characters long; a DNS label has at most 63")]
    LabelTooLong {
        /// The label.
        label: String,
        /// Its length.
        len: usize,
    },
    /// A name over 253 characters.
    #[error("it is {len} characters long; a DNS name has at most 253")]
    NameTooLong {
        /// Its length.
        len: usize,
    },
    /// A character DNS names cannot hold.
    #[error("{ch:?} is not allowed in a DNS name (letters, digits, '-' and '_' only)")]
    BadCharacter {
        /// The character.
        ch: char,
    },
    /// `-foo` or `foo-`.
    #[error("the label {label:?} starts or ends with '-'")]
    HyphenAtEdge {
        /// The label.
        label: String,
    },
    /// `localhost:8443`.
    #[error("it has a port; certificates name hosts, not ports, so leave ':{port}' out")]
    HasPort {
        /// The port typed.
        port: String,
    },
    /// `256.1.1.1`, `1.2.3`.
    #[error("it is not a valid IP address, and a DNS name cannot end in an all-numeric label")]
    NumericTopLabel,
    /// `*` alone.
    #[error("a wildcard needs a domain under it, like *.example.test")]
    BareWildcard,
    /// `a.*.b`, `*.*.x`.
    #[error("a wildcard may only be the whole leftmost label, like *.example.test")]
    WildcardNotLeftmost,
    /// `f*o.example`.
    #[error("a wildcard must be a whole label: write *.example.test, not part of a label")]
    PartialWildcard,
    /// `*.com`, `*.co.uk`.
    #[error(
        "a wildcard directly under the public suffix {suffix:?} would cover other people's sites; clients refuse it"
    )]
    WildcardUnderPublicSuffix {
        /// The public suffix.
        suffix: String,
    },
    /// IDNA conversion failed.
    #[error("it is not a valid internationalised domain name")]
    Idna,
    /// `xn--zz`: an `xn--` label that is not the punycode of a valid Unicode label.
    #[error(
        "the label {label:?} starts with xn-- but is not the punycode form of a valid Unicode label (an invalid A-label); type the name in Unicode, or copy its xn-- form again"
    )]
    InvalidALabel {
        /// The label.
        label: String,
    },
    /// A malformed email address.
    #[error("it is not a valid email address: {0}")]
    Email(&'static str),
    /// A malformed URI.
    #[error("it is not a valid URI: {0}")]
    Uri(&'static str),
    /// A malformed name constraint.
    #[error("it is not a valid name constraint: {0}")]
    Constraint(&'static str),
}

/// Something clients may dislike about a name that is still allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameWarning {
    /// `*.localhost`, `*.test`: a wildcard directly under a single label.
    WildcardUnderSingleLabel {
        /// The wildcard name.
        name: String,
    },
    /// `exаmple.test` with a Cyrillic `а`: a label mixing scripts, the mark of
    /// a look-alike of another name. Browsers show such names as punycode.
    MixedScripts {
        /// The name in Unicode, as typed.
        unicode: String,
        /// The name as the certificate holds it (punycode).
        name: String,
        /// The scripts mixed in one label (`Latin`, `Cyrillic`).
        scripts: Vec<&'static str>,
    },
}

impl fmt::Display for NameWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameWarning::WildcardUnderSingleLabel { name } => write!(
                f,
                "{name} is a wildcard directly under a single label; many browsers reject such \
                 certificates, so list the host names (e.g. app.{}) instead",
                name.trim_start_matches("*.")
            ),
            NameWarning::MixedScripts {
                unicode,
                name,
                scripts,
            } => write!(
                f,
                "{unicode} ({name}) mixes {} letters in one label, as look-alikes of other names do; \
                 browsers show it as {name}, not as typed: if you meant a plain ASCII name, retype it",
                scripts.join(" and ")
            ),
        }
    }
}

impl SubjectAltName {
    /// Parses what a user typed. An `openssl`-style prefix (`DNS:`, `IP:`,
    /// `email:`, `URI:`) forces the kind; otherwise an IP address is an IP,
    /// anything with `://` (or `urn:`) a URI, anything with `@` an email, and
    /// the rest a DNS name, converted to punycode if needed.
    ///
    /// ```
    /// use pki::SubjectAltName;
    /// let n = SubjectAltName::parse("Bücher.Example")?;
    /// assert_eq!(n.to_string(), "xn--bcher-kva.example");
    /// assert!(SubjectAltName::parse("*.com").is_err());
    /// # Ok::<(), pki::Error>(())
    /// ```
    pub fn parse(input: &str) -> Result<Self> {
        parse_name(input.trim()).map_err(|reason| Error::InvalidName {
            input: input.to_owned(),
            reason,
        })
    }

    /// A caution for names that are valid but that some clients reject or
    /// show otherwise than typed (the first one, if there are two).
    pub fn warning(&self) -> Option<NameWarning> {
        let SubjectAltName::Dns(dns) = self else {
            return None;
        };
        if let Some(mixed) = mixed_scripts(dns) {
            return Some(mixed);
        }
        let parent = dns.as_str().strip_prefix("*.")?;
        if parent.contains('.') {
            return None;
        }
        Some(NameWarning::WildcardUnderSingleLabel {
            name: dns.to_string(),
        })
    }

    /// The kind as OpenSSL's config syntax names it (`DNS`, `IP`, `email`, `URI`).
    pub fn kind(&self) -> &'static str {
        match self {
            SubjectAltName::Dns(_) => "DNS",
            SubjectAltName::Ip(_) => "IP",
            SubjectAltName::Email(_) => "email",
            SubjectAltName::Uri(_) => "URI",
        }
    }
}

impl fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectAltName::Dns(d) => d.fmt(f),
            SubjectAltName::Ip(ip) => ip.fmt(f),
            SubjectAltName::Email(e) | SubjectAltName::Uri(e) => f.write_str(e),
        }
    }
}

impl FromStr for SubjectAltName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        SubjectAltName::parse(s)
    }
}

impl From<IpAddr> for SubjectAltName {
    fn from(ip: IpAddr) -> Self {
        SubjectAltName::Ip(ip)
    }
}

fn parse_name(input: &str) -> Result<SubjectAltName, NameError> {
    if input.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some((prefix, rest)) = input.split_once(':') {
        match prefix.to_ascii_lowercase().as_str() {
            "dns" => return parse_dns(rest, true).map(SubjectAltName::Dns),
            "ip" => {
                return parse_ip(rest)
                    .ok_or(NameError::NumericTopLabel)
                    .map(SubjectAltName::Ip);
            }
            "email" => return parse_email(rest).map(SubjectAltName::Email),
            "uri" => return parse_uri(rest).map(SubjectAltName::Uri),
            _ => {}
        }
    }
    if let Some(ip) = parse_ip(input) {
        return Ok(SubjectAltName::Ip(ip));
    }
    if input.contains("://") || input.to_ascii_lowercase().starts_with("urn:") {
        return parse_uri(input).map(SubjectAltName::Uri);
    }
    if input.contains('@') {
        return parse_email(input).map(SubjectAltName::Email);
    }
    if let Some((host, port)) = input.rsplit_once(':')
        && !host.is_empty()
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(NameError::HasPort {
            port: port.to_owned(),
        });
    }
    parse_dns(input, true).map(SubjectAltName::Dns)
}

fn parse_ip(input: &str) -> Option<IpAddr> {
    let bare = input
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(input);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(ip);
    }
    bare.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// Parses a DNS name, allowing a leftmost `*` label when `wildcard_ok`.
pub(crate) fn parse_dns(input: &str, wildcard_ok: bool) -> Result<DnsName, NameError> {
    let input = input.strip_suffix('.').unwrap_or(input);
    if input.is_empty() {
        return Err(NameError::Empty);
    }
    if input == "*" {
        return Err(NameError::BareWildcard);
    }
    let (wildcard, base) = match input.strip_prefix("*.") {
        Some(rest) if wildcard_ok => (true, rest),
        _ => (false, input),
    };
    if base.contains('*') {
        let whole_label = base.split('.').any(|l| l == "*") || input.starts_with("*.");
        return Err(if whole_label {
            NameError::WildcardNotLeftmost
        } else {
            NameError::PartialWildcard
        });
    }
    let ascii = if base.is_ascii() {
        base.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(base).map_err(|_| NameError::Idna)?
    };
    check_labels(&ascii)?;
    check_a_labels(&ascii)?;
    let name = if wildcard {
        check_wildcard_parent(&ascii)?;
        format!("*.{ascii}")
    } else {
        ascii
    };
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::NameTooLong { len: name.len() });
    }
    Ok(DnsName(name))
}

fn check_labels(ascii: &str) -> Result<(), NameError> {
    let labels: Vec<&str> = ascii.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong {
                label: (*label).to_owned(),
                len: label.len(),
            });
        }
        if let Some(ch) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(NameError::BadCharacter { ch });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(NameError::HyphenAtEdge {
                label: (*label).to_owned(),
            });
        }
    }
    // A last label of digits only is a mistyped IP address (1.2.3, 256.1.1.1).
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(NameError::NumericTopLabel);
    }
    Ok(())
}

/// Refuses `xn--` labels that are not what IDNA makes of some Unicode
/// label: decoding must succeed under UTS #46 and encoding the result again
/// must give the label back (`xn--zz` decodes to nothing valid).
fn check_a_labels(ascii: &str) -> Result<(), NameError> {
    for label in ascii.split('.') {
        if !label.starts_with("xn--") {
            continue;
        }
        let invalid = || NameError::InvalidALabel {
            label: label.to_owned(),
        };
        let (unicode, decoded) = idna::domain_to_unicode(label);
        if decoded.is_err() || unicode.is_ascii() {
            return Err(invalid());
        }
        match idna::domain_to_ascii(&unicode) {
            Ok(back) if back == label => {}
            _ => return Err(invalid()),
        }
    }
    Ok(())
}

/// The warning for a DNS name with a label mixing scripts in a way UTS #39's
/// "highly restrictive" profile (what Chrome follows before showing a name
/// in Unicode) does not allow: Latin with Cyrillic, Greek with Latin, and so
/// on. Latin mixed with Han and Kana, Han and Bopomofo, or Han and Hangul is
/// how Japanese, Chinese and Korean names are written, and passes.
fn mixed_scripts(dns: &DnsName) -> Option<NameWarning> {
    if !dns.as_str().split('.').any(|l| l.starts_with("xn--")) {
        return None;
    }
    let (unicode, result) = idna::domain_to_unicode(dns.as_str());
    result.ok()?;
    const ALLOWED: [&[&str]; 3] = [
        &["Latin", "Han", "Hiragana", "Katakana"],
        &["Latin", "Han", "Bopomofo"],
        &["Latin", "Han", "Hangul"],
    ];
    for label in unicode.split('.') {
        let mut scripts: Vec<&'static str> = Vec::new();
        for script in label.chars().filter_map(script_of) {
            if !scripts.contains(&script) {
                scripts.push(script);
            }
        }
        let allowed = scripts.len() < 2
            || ALLOWED
                .iter()
                .any(|set| scripts.iter().all(|s| set.contains(s)));
        if !allowed {
            return Some(NameWarning::MixedScripts {
                unicode,
                name: dns.to_string(),
                scripts,
            });
        }
    }
    None
}

/// The script of a letter, for the scripts look-alike names mix; `None` for
/// digits, `-`, `_`, combining marks and scripts not listed (which are then
/// not judged). Ranges from the Unicode blocks of each script.
fn script_of(c: char) -> Option<&'static str> {
    let script = match u32::from(c) {
        0x41..=0x5A | 0x61..=0x7A => "Latin",
        0xD7 | 0xF7 => return None,
        0xC0..=0x24F | 0x250..=0x2AF | 0x1E00..=0x1EFF | 0x2C60..=0x2C7F => "Latin",
        0xA720..=0xA7FF | 0xAB30..=0xAB6F | 0xFF21..=0xFF3A | 0xFF41..=0xFF5A => "Latin",
        0x370..=0x3FF | 0x1F00..=0x1FFF => "Greek",
        0x400..=0x52F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => "Cyrillic",
        0x530..=0x58F => "Armenian",
        0x591..=0x5FF => "Hebrew",
        0x600..=0x6FF | 0x750..=0x77F => "Arabic",
        0x900..=0x97F => "Devanagari",
        0xE00..=0xE7F => "Thai",
        0x10A0..=0x10FF => "Georgian",
        0x13A0..=0x13FF => "Cherokee",
        0x3040..=0x309F => "Hiragana",
        0x30A0..=0x30FF => "Katakana",
        0x3100..=0x312F => "Bopomofo",
        0x1100..=0x11FF | 0xAC00..=0xD7AF => "Hangul",
        0x3400..=0x4DBF | 0x4E00..=0x9FFF => "Han",
        _ => return None,
    };
    Some(script)
}

fn check_wildcard_parent(parent: &str) -> Result<(), NameError> {
    if let Some(suffix) = psl::suffix(parent.as_bytes())
        && suffix.is_known()
        && suffix.as_bytes() == parent.as_bytes()
    {
        return Err(NameError::WildcardUnderPublicSuffix {
            suffix: parent.to_owned(),
        });
    }
    Ok(())
}

fn parse_email(input: &str) -> Result<String, NameError> {
    let Some((local, domain)) = input.rsplit_once('@') else {
        return Err(NameError::Email("it has no '@'"));
    };
    if local.is_empty() {
        return Err(NameError::Email("nothing before the '@'"));
    }
    if local.len() > MAX_LOCAL_PART_LEN {
        return Err(NameError::Email(
            "the part before '@' is over 64 characters",
        ));
    }
    if !local
        .bytes()
        .all(|b| b.is_ascii_graphic() && !b"@()<>[]:;,\\\"".contains(&b))
    {
        return Err(NameError::Email(
            "the part before '@' may only hold printable ASCII without spaces or ()<>[]:;,\\\"",
        ));
    }
    let domain = parse_dns(domain, false)
        .map_err(|_| NameError::Email("the part after '@' is not a valid domain name"))?;
    Ok(format!("{local}@{domain}"))
}

fn parse_uri(input: &str) -> Result<String, NameError> {
    let Some((scheme, rest)) = input.split_once(':') else {
        return Err(NameError::Uri("it has no scheme (like spiffe: or https:)"));
    };
    let mut chars = scheme.chars();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return Err(NameError::Uri(
            "the scheme must start with a letter and hold only letters, digits, '+', '-', '.'",
        ));
    }
    if rest.is_empty() || rest == "//" {
        return Err(NameError::Uri("nothing follows the scheme"));
    }
    if !input
        .bytes()
        .all(|b| b.is_ascii_graphic() && !b"<>\"{}|\\^`".contains(&b))
    {
        return Err(NameError::Uri(
            "it holds spaces, non-ASCII or characters URIs escape (<>\"{}|\\^`); percent-encode them",
        ));
    }
    Ok(format!("{}:{rest}", scheme.to_ascii_lowercase()))
}

/// A permitted subtree in a CA's nameConstraints: the CA may only issue
/// for names inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NameConstraint {
    /// `localhost` (the name and everything under it) or `.test` (only
    /// names under it), as RFC 5280 and OpenSSL read DNS constraints.
    Dns(String),
    /// An address range, like `127.0.0.0/8` or `::1/128`.
    Ip {
        /// The network address (host bits zero).
        network: IpAddr,
        /// The prefix length.
        prefix: u8,
    },
}

impl NameConstraint {
    /// Parses `localhost`, `.test`, `127.0.0.0/8`, `::1/128` or a single
    /// address (`::1`, meaning that address only).
    pub fn parse(input: &str) -> Result<Self> {
        let input = input.trim();
        parse_constraint(input).map_err(|reason| Error::InvalidName {
            input: input.to_owned(),
            reason,
        })
    }

    /// Whether `name` lies inside this subtree. Names of another kind
    /// (an email under a DNS constraint) are not inside it.
    pub fn permits(&self, name: &SubjectAltName) -> bool {
        match (self, name) {
            (NameConstraint::Dns(c), SubjectAltName::Dns(d)) => dns_within(d.as_str(), c),
            (NameConstraint::Ip { network, prefix }, SubjectAltName::Ip(ip)) => {
                ip_within(*ip, *network, *prefix)
            }
            _ => false,
        }
    }

    /// Whether this constraint restricts names of the same kind as `name`.
    pub fn constrains_kind_of(&self, name: &SubjectAltName) -> bool {
        matches!(
            (self, name),
            (NameConstraint::Dns(_), SubjectAltName::Dns(_))
                | (NameConstraint::Ip { .. }, SubjectAltName::Ip(_))
        )
    }
}

impl fmt::Display for NameConstraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameConstraint::Dns(d) => f.write_str(d),
            NameConstraint::Ip { network, prefix } => write!(f, "{network}/{prefix}"),
        }
    }
}

impl FromStr for NameConstraint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        NameConstraint::parse(s)
    }
}

fn parse_constraint(input: &str) -> Result<NameConstraint, NameError> {
    if input.is_empty() {
        return Err(NameError::Empty);
    }
    let (addr, prefix) = match input.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (input, None),
    };
    if let Some(ip) = parse_ip(addr) {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or(NameError::Constraint(
                    "the prefix length must be 0-32 for IPv4, 0-128 for IPv6",
                ))?,
        };
        let network = mask_ip(ip, prefix);
        if network != ip {
            return Err(NameError::Constraint(
                "the address has bits set past the prefix length; write the network address (e.g. 127.0.0.0/8)",
            ));
        }
        return Ok(NameConstraint::Ip { network, prefix });
    }
    if prefix.is_some() {
        return Err(NameError::Constraint("only IP ranges take a /prefix"));
    }
    let (dot, name) = match input.strip_prefix('.') {
        Some(rest) => (".", rest),
        None => ("", input),
    };
    let dns = parse_dns(name, false)?;
    Ok(NameConstraint::Dns(format!("{dot}{dns}")))
}

fn dns_within(name: &str, constraint: &str) -> bool {
    if let Some(suffix) = constraint.strip_prefix('.') {
        return name.len() > suffix.len() + 1 && name.ends_with(constraint);
    }
    name == constraint || name.ends_with(&format!(".{constraint}"))
}

fn ip_within(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    ip.is_ipv4() == network.is_ipv4() && mask_ip(ip, prefix) == network
}

fn mask_ip(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & mask).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(input: &str) -> NameError {
        match SubjectAltName::parse(input) {
            Err(Error::InvalidName { reason, .. }) => reason,
            other => panic!("{input:?} should be refused, got {other:?}"),
        }
    }

    fn ok(input: &str) -> SubjectAltName {
        match SubjectAltName::parse(input) {
            Ok(n) => n,
            Err(e) => panic!("{input:?} should parse: {e}"),
        }
    }

    #[test]
    fn kinds_are_detected() {
        assert_eq!(ok("localhost").kind(), "DNS");
        assert_eq!(ok("127.0.0.1").kind(), "IP");
        assert_eq!(ok("::1").kind(), "IP");
        assert_eq!(ok("[::1]").to_string(), "::1");
        assert_eq!(ok("alice@example.test").kind(), "email");
        assert_eq!(ok("spiffe://cluster.local/ns/web").kind(), "URI");
        assert_eq!(ok("DNS:Example.Test.").to_string(), "example.test");
        assert_eq!(ok("IP:10.0.0.1").kind(), "IP");
    }

    #[test]
    fn international_names_become_punycode() {
        assert_eq!(ok("bücher.example").to_string(), "xn--bcher-kva.example");
        assert_eq!(ok("*.münchen.test").to_string(), "*.xn--mnchen-3ya.test");
        assert_eq!(
            ok("jose@bücher.example").to_string(),
            "jose@xn--bcher-kva.example"
        );
        // rfc822Name is IA5String: a non-ASCII local part cannot be encoded.
        assert!(matches!(reason("josé@example.test"), NameError::Email(_)));
    }

    #[test]
    fn broken_names_are_refused_with_their_rule() {
        assert_eq!(reason(""), NameError::Empty);
        assert_eq!(reason("a..b"), NameError::EmptyLabel);
        assert_eq!(reason(".a"), NameError::EmptyLabel);
        assert_eq!(reason("*"), NameError::BareWildcard);
        assert_eq!(reason("a.*.b"), NameError::WildcardNotLeftmost);
        assert_eq!(reason("*.*.x"), NameError::WildcardNotLeftmost);
        assert_eq!(reason("f*o.example"), NameError::PartialWildcard);
        assert_eq!(reason("a b.test"), NameError::BadCharacter { ch: ' ' });
        assert_eq!(reason("a!.test"), NameError::BadCharacter { ch: '!' });
        assert!(matches!(
            reason(&"a".repeat(64)),
            NameError::LabelTooLong { len: 64, .. }
        ));
        let long = vec!["abcdefghi"; 26].join(".");
        assert!(matches!(reason(&long), NameError::NameTooLong { .. }));
        assert!(matches!(reason("-a.test"), NameError::HyphenAtEdge { .. }));
        assert_eq!(reason("256.1.1.1"), NameError::NumericTopLabel);
        assert_eq!(
            reason("localhost:8443"),
            NameError::HasPort {
                port: "8443".into()
            }
        );
        assert!(matches!(reason("@example.test"), NameError::Email(_)));
        assert!(matches!(reason("a b@example.test"), NameError::Email(_)));
        assert!(matches!(reason("spiffe://"), NameError::Uri(_)));
        assert!(matches!(reason("1http://x"), NameError::Uri(_)));
    }

    #[test]
    fn wildcards_under_public_suffixes_are_refused() {
        assert!(matches!(
            reason("*.com"),
            NameError::WildcardUnderPublicSuffix { .. }
        ));
        assert!(matches!(
            reason("*.co.uk"),
            NameError::WildcardUnderPublicSuffix { .. }
        ));
        assert!(ok("*.example.co.uk").warning().is_none());
    }

    #[test]
    fn invalid_a_labels_are_refused() {
        assert!(matches!(
            reason("xn--zz.test"),
            NameError::InvalidALabel { .. }
        ));
        assert!(matches!(
            reason("XN--ZZ.test"),
            NameError::InvalidALabel { .. }
        ));
        // A valid A-label, typed as such, is kept.
        assert_eq!(
            ok("xn--bcher-kva.example").to_string(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn mixed_scripts_warn_and_single_scripts_do_not() {
        // The second letter is U+0430 CYRILLIC SMALL LETTER A.
        let warning = ok("ex\u{430}mple.test").warning();
        match &warning {
            Some(NameWarning::MixedScripts { name, scripts, .. }) => {
                assert_eq!(name, "xn--exmple-4nf.test");
                assert_eq!(scripts, &["Latin", "Cyrillic"]);
            }
            other => panic!("expected a mixed-scripts warning, got {other:?}"),
        }
        let shown = warning.map(|w| w.to_string()).unwrap_or_default();
        assert!(shown.contains("xn--exmple-4nf.test"), "{shown}");
        assert!(shown.contains("Latin and Cyrillic"), "{shown}");
        for fine in [
            "bücher.example",
            "пример.test",
            "例え.テスト",
            "abcカタカナ.test",
            "localhost",
        ] {
            assert_eq!(ok(fine).warning(), None, "{fine}");
        }
    }

    #[test]
    fn wildcards_under_one_label_warn() {
        for input in ["*.localhost", "*.test"] {
            let warning = ok(input)
                .warning()
                .map(|w| w.to_string())
                .unwrap_or_default();
            assert!(
                warning.contains("many browsers reject"),
                "{input}: {warning}"
            );
        }
        assert!(ok("*.app.test").warning().is_none());
        assert!(ok("localhost").warning().is_none());
    }

    #[test]
    fn constraints_parse_and_match() -> Result<()> {
        let localhost = NameConstraint::parse("localhost")?;
        let test = NameConstraint::parse(".test")?;
        let loopback = NameConstraint::parse("127.0.0.0/8")?;
        let v6 = NameConstraint::parse("::1")?;
        assert!(localhost.permits(&ok("localhost")));
        assert!(localhost.permits(&ok("app.localhost")));
        assert!(!localhost.permits(&ok("notlocalhost")));
        assert!(test.permits(&ok("a.test")));
        assert!(test.permits(&ok("*.app.test")));
        assert!(!test.permits(&ok("test")));
        assert!(loopback.permits(&ok("127.1.2.3")));
        assert!(!loopback.permits(&ok("10.0.0.1")));
        assert!(v6.permits(&ok("::1")));
        assert!(!v6.permits(&ok("::2")));
        assert!(NameConstraint::parse("127.0.0.1/8").is_err());
        assert!(NameConstraint::parse("10.0.0.0/33").is_err());
        Ok(())
    }
}
