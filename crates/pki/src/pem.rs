//! Finding PEM blocks by label, so a file can be sorted (key, certificate,
//! CSR) before OpenSSL parses it, and a certificate given where a key belongs
//! is named as such instead of "bad base64"; and writing one block.

use crate::error::{Error, Origin, Result};

/// One `-----BEGIN X-----` … `-----END X-----` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block<'a> {
    /// The label between BEGIN and the dashes.
    pub label: String,
    /// The whole block, BEGIN and END lines included.
    pub text: &'a [u8],
}

/// `der` as a PEM block with `label`, base64 in lines of 64 characters as
/// OpenSSL writes them (RFC 7468 §2).
pub(crate) fn encode(label: &str, der: &[u8]) -> Vec<u8> {
    let base64 = openssl::base64::encode_block(der);
    let mut out = Vec::with_capacity(base64.len() + base64.len() / 64 + 2 * label.len() + 40);
    out.extend_from_slice(format!("-----BEGIN {label}-----\n").as_bytes());
    for line in base64.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(format!("-----END {label}-----\n").as_bytes());
    out
}

/// Whether the bytes look like PEM text rather than DER.
pub(crate) fn looks_like_pem(bytes: &[u8]) -> bool {
    find(bytes, b"-----BEGIN ").is_some()
}

/// Every complete block, in order.
pub(crate) fn blocks(bytes: &[u8]) -> Vec<Block<'_>> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(begin) = find(&bytes[rest..], b"-----BEGIN ").map(|i| i + rest) {
        let label_start = begin + b"-----BEGIN ".len();
        let Some(label_end) = find(&bytes[label_start..], b"-----").map(|i| i + label_start) else {
            break;
        };
        let label = String::from_utf8_lossy(&bytes[label_start..label_end]).into_owned();
        let end_marker = format!("-----END {label}-----");
        let Some(end) = find(&bytes[label_end..], end_marker.as_bytes()).map(|i| i + label_end)
        else {
            break;
        };
        let stop = end + end_marker.len();
        out.push(Block {
            label,
            text: &bytes[begin..stop],
        });
        rest = stop;
    }
    out
}

/// The blocks with one of `labels`, in order; if there is none, the error
/// says what the input holds instead ([`Error::WrongKind`]), or that it has
/// no complete block at all ([`Error::Malformed`]).
pub(crate) fn labelled<'a>(
    bytes: &'a [u8],
    labels: &[&str],
    origin: &Origin,
    expected: &'static str,
) -> Result<Vec<Block<'a>>> {
    let all = blocks(bytes);
    let wanted: Vec<Block<'a>> = all
        .iter()
        .filter(|b| labels.contains(&b.label.as_str()))
        .cloned()
        .collect();
    if !wanted.is_empty() {
        return Ok(wanted);
    }
    Err(match all.first() {
        Some(b) => Error::WrongKind {
            origin: origin.clone(),
            expected,
            found: describe_label(&b.label),
        },
        None => Error::Malformed {
            origin: origin.clone(),
            expected,
            reason: "no complete PEM block (BEGIN/END lines) was found".to_owned(),
        },
    })
}

/// A PEM label as a person would say it.
pub(crate) fn describe_label(label: &str) -> String {
    match label {
        "CERTIFICATE" | "TRUSTED CERTIFICATE" | "X509 CERTIFICATE" => "certificate".to_owned(),
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => "CSR".to_owned(),
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {
            "public key (the private key is another file)".to_owned()
        }
        "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => {
            "private key".to_owned()
        }
        "X509 CRL" => "certificate revocation list".to_owned(),
        other => format!("PEM block labelled {other:?}"),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Why bytes that are neither PEM nor the DER we expected were refused, in
/// words rather than OpenSSL's ASN.1 parser trace.
pub(crate) fn neither_reason(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "the file is empty".to_owned();
    }
    let text = bytes
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    if text {
        "it is text without a -----BEGIN …----- block (not PEM), and not DER either".to_owned()
    } else {
        "it is binary data that does not parse as DER".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blocks_in_order_and_skips_text_between() {
        let text = b"junk\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\nmore\n-----BEGIN EC PARAMETERS-----\nBB\n-----END EC PARAMETERS-----\n-----BEGIN EC PRIVATE KEY-----\nCC\n-----END EC PRIVATE KEY-----\n";
        let found = blocks(text);
        let labels: Vec<_> = found.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["CERTIFICATE", "EC PARAMETERS", "EC PRIVATE KEY"]);
        assert!(found[2].text.ends_with(b"-----END EC PRIVATE KEY-----"));
    }

    #[test]
    fn truncated_block_is_not_a_block() {
        assert!(blocks(b"-----BEGIN CERTIFICATE-----\nAAAA\n").is_empty());
        assert!(looks_like_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n"));
    }
}
