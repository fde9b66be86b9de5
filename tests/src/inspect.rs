//! What `openssl` itself says about a certificate (text, names, dates,
//! fingerprint, serial, extensions): the tests judge `pki`'s output by it.

use std::path::{Path, PathBuf};

use crate::*;

/// A certificate for `openssl x509`: a file (`-in`), or PEM text (stdin).
pub trait X509Input {
    /// Hands the certificate to `cmd`.
    fn feed(&self, cmd: &mut TestCommand);
}

impl X509Input for Path {
    fn feed(&self, cmd: &mut TestCommand) {
        cmd.arg("-in").arg(self);
    }
}

impl X509Input for PathBuf {
    fn feed(&self, cmd: &mut TestCommand) {
        self.as_path().feed(cmd);
    }
}

impl X509Input for str {
    fn feed(&self, cmd: &mut TestCommand) {
        cmd.stdin(self);
    }
}

impl X509Input for String {
    fn feed(&self, cmd: &mut TestCommand) {
        self.as_str().feed(cmd);
    }
}

/// `openssl x509 -noout args…` on a certificate, its output trimmed.
pub fn openssl_x509<C: X509Input + ?Sized>(cert: &C, args: &[&str]) -> String {
    let mut cmd = openssl(["x509", "-noout"]);
    cmd.args(args);
    cert.feed(&mut cmd);
    cmd.assert_success().stdout.trim().to_owned()
}

/// `openssl_x509` output after `prefix`, failing with the output if absent.
fn after(out: String, prefix: &str) -> String {
    out.strip_prefix(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {out:?}"))
        .to_owned()
}

/// A certificate's serial as `openssl x509 -serial` prints it (uppercase
/// hex, without `serial=`).
pub fn openssl_serial<C: X509Input + ?Sized>(cert: &C) -> String {
    after(openssl_x509(cert, &["-serial"]), "serial=")
}

/// What `openssl x509 -noout -text` says about a certificate.
pub fn x509_text<C: X509Input + ?Sized>(cert: &C) -> String {
    openssl_x509(cert, &["-text"])
}

/// A certificate's subject (`"subject"`) or issuer (`"issuer"`) as OpenSSL
/// prints it with `-nameopt sname,sep_comma_plus_space`: `O=…, OU=…, CN=…`,
/// the form `pki` uses in its messages.
pub fn openssl_name<C: X509Input + ?Sized>(cert: &C, which: &str) -> String {
    let out = openssl_x509(
        cert,
        &[
            "-nameopt",
            "sname,sep_comma_plus_space",
            &format!("-{which}"),
        ],
    );
    after(out, &format!("{which}="))
}

/// The SHA-256 fingerprint of a certificate as `openssl x509 -fingerprint
/// -sha256` prints it (`AB:CD:…`).
pub fn openssl_fingerprint<C: X509Input + ?Sized>(cert: &C) -> String {
    after(
        openssl_x509(cert, &["-fingerprint", "-sha256"]),
        "sha256 Fingerprint=",
    )
}

/// The subjectAltName value: `DNS:api.test, IP Address:127.0.0.1`.
pub fn openssl_san<C: X509Input + ?Sized>(cert: &C) -> String {
    let text = openssl_x509(cert, &["-ext", "subjectAltName"]);
    text.lines()
        .nth(1)
        .unwrap_or_else(|| panic!("no subjectAltName in\n{text}"))
        .trim()
        .to_owned()
}

/// A certificate's notBefore (`"startdate"`) or notAfter (`"enddate"`) as
/// `openssl x509 -dateopt iso_8601` prints it, in the form `pki`'s messages
/// use: `2026-10-23 11:15:44 UTC`.
pub fn openssl_date(path: &Path, which: &str) -> String {
    let out = openssl(["x509", "-noout", "-dateopt", "iso_8601"])
        .arg(format!("-{which}"))
        .arg("-in")
        .arg(path)
        .assert_success();
    let value = out
        .stdout
        .trim_end()
        .split_once('=')
        .map(|(_, v)| v.to_owned())
        .unwrap_or_else(|| panic!("no date\n{out}"));
    let date = value
        .strip_suffix('Z')
        .unwrap_or_else(|| panic!("not an ISO 8601 UTC date: {value:?}\n{out}"));
    format!("{date} UTC")
}

/// Seconds since 1970 of a date in the form [`openssl_date`] returns, so
/// tests can compute with dates without asking `pki`.
pub fn unix_seconds(date: &str) -> i64 {
    let bad = || -> ! { panic!("not a `YYYY-MM-DD HH:MM:SS UTC` date: {date:?}") };
    let digits: Vec<i64> = date
        .trim_end_matches(" UTC")
        .split(['-', ' ', ':'])
        .map(|part| part.parse().unwrap_or_else(|_| bad()))
        .collect();
    let [y, m, d, hh, mm, ss] = digits[..] else {
        bad()
    };
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

/// One extension in `openssl x509 -text` (or `req -text`) output, found by
/// the name OpenSSL prints after `X509v3 `: whether it is critical, and its
/// value (the more indented lines under it, trimmed, joined by newlines).
pub fn extension(text: &str, name: &str) -> Option<Extension> {
    let header = format!("X509v3 {name}:");
    let mut lines = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(&header));
    let first = lines.next()?;
    let indent = first.len() - first.trim_start().len();
    let value = lines
        .take_while(|l| l.len() - l.trim_start().len() > indent)
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n");
    Some(Extension {
        critical: first.trim_end().ends_with("critical"),
        value,
    })
}

/// An extension as `openssl x509 -text` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// Whether it is marked critical.
    pub critical: bool,
    /// Its value as printed.
    pub value: String,
}
