//! The verified client certificate as the app behind the proxy gets it:
//! Envoy's `X-Forwarded-Client-Cert` element, a format Envoy, Istio and
//! their libraries already parse. Its own module because a server built on
//! this crate without the proxy uses it too.

/// The client certificate as Envoy's `X-Forwarded-Client-Cert` element:
/// `Hash` (SHA-256 of the DER, hex), `Cert` (the PEM, URL-encoded),
/// `Subject` (quoted), then each `URI` and `DNS` name. A server built on
/// this crate uses it to hand a verified identity to an app behind it.
pub fn forwarded_client_cert(cert: &pki::Certificate) -> String {
    let der = cert.to_der().unwrap_or_default();
    let hash: String = openssl::sha::sha256(&der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let pem = cert.to_pem().unwrap_or_default();
    let mut out = format!(
        "Hash={hash};Cert=\"{}\";Subject=\"{}\"",
        url_encode(&pem),
        cert.subject().replace('\\', "\\\\").replace('"', "\\\"")
    );
    for name in cert.subject_alt_names() {
        match name {
            pki::SubjectAltName::Uri(uri) => out.push_str(&format!(";URI={}", xfcc_value(&uri))),
            pki::SubjectAltName::Dns(dns) => {
                out.push_str(&format!(";DNS={}", xfcc_value(dns.as_str())));
            }
            _ => {}
        }
    }
    out
}

/// A value as Envoy writes it: quoted (with `"` and `\` escaped) when it
/// holds `,`, `;`, `=` or `"`, which would otherwise start another field or
/// element.
fn xfcc_value(value: &str) -> String {
    if value.contains([',', ';', '=', '"']) {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        value.to_owned()
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_certificates_take_envoys_form() -> Result<(), pki::Error> {
        let ca = pki::testing::TestCa::new()?;
        let alice = ca.ca().issue(&pki::CertParams::new([
            "alice.example.test",
            "URI:spiffe://example.test/alice",
        ])?)?;
        let xfcc = forwarded_client_cert(alice.certificate());
        assert!(xfcc.starts_with("Hash="), "{xfcc}");
        assert!(
            xfcc.contains(";Cert=\"-----BEGIN%20CERTIFICATE-----%0A"),
            "{xfcc}"
        );
        assert!(xfcc.contains(";Subject=\""), "{xfcc}");
        assert!(
            xfcc.ends_with(";DNS=alice.example.test;URI=spiffe://example.test/alice")
                || xfcc.ends_with(";URI=spiffe://example.test/alice;DNS=alice.example.test"),
            "{xfcc}"
        );
        Ok(())
    }
}
