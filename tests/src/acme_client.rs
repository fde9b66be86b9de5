//! A small ACME client for the tests the real clients cannot make: it signs
//! with OpenSSL (RS256, ES256, ES384, ES512, EdDSA) and sends with curl,
//! and it can break any part of a request (a bad signature, a used nonce,
//! another URL) to check what the server says about each.

// Test harness: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::{MessageDigest, hash};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use serde_json::{Value, json};

use crate::{TestCommand, curl};

/// base64url without padding.
pub fn b64u(bytes: impl AsRef<[u8]>) -> String {
    let text = openssl::base64::encode_block(bytes.as_ref());
    text.trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
        .replace('\n', "")
}

/// The kinds of account key the server must accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountAlg {
    /// RSA 2048, RS256.
    Rs256,
    /// P-256, ES256.
    Es256,
    /// P-384, ES384.
    Es384,
    /// P-521, ES512.
    Es512,
    /// Ed25519, EdDSA.
    EdDsa,
}

impl AccountAlg {
    /// Every one.
    pub const ALL: [AccountAlg; 5] = [
        AccountAlg::Rs256,
        AccountAlg::Es256,
        AccountAlg::Es384,
        AccountAlg::Es512,
        AccountAlg::EdDsa,
    ];

    /// The JWS `alg`.
    pub fn name(self) -> &'static str {
        match self {
            AccountAlg::Rs256 => "RS256",
            AccountAlg::Es256 => "ES256",
            AccountAlg::Es384 => "ES384",
            AccountAlg::Es512 => "ES512",
            AccountAlg::EdDsa => "EdDSA",
        }
    }
}

/// An account key and its JWK.
pub struct AccountKeyPair {
    /// The algorithm.
    pub alg: AccountAlg,
    key: PKey<Private>,
    /// The public JWK.
    pub jwk: Value,
}

impl AccountKeyPair {
    /// A new key.
    pub fn generate(alg: AccountAlg) -> Self {
        let (key, jwk) = match alg {
            AccountAlg::Rs256 => {
                let rsa = Rsa::generate(2048).unwrap();
                let jwk = json!({
                    "kty": "RSA",
                    "n": b64u(rsa.n().to_vec()),
                    "e": b64u(rsa.e().to_vec()),
                });
                (PKey::from_rsa(rsa).unwrap(), jwk)
            }
            AccountAlg::EdDsa => {
                let key = PKey::generate_ed25519().unwrap();
                let jwk = json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": b64u(key.raw_public_key().unwrap()),
                });
                (key, jwk)
            }
            _ => {
                let (nid, crv, width) = match alg {
                    AccountAlg::Es256 => (Nid::X9_62_PRIME256V1, "P-256", 32),
                    AccountAlg::Es384 => (Nid::SECP384R1, "P-384", 48),
                    _ => (Nid::SECP521R1, "P-521", 66),
                };
                let group = EcGroup::from_curve_name(nid).unwrap();
                let ec = EcKey::generate(&group).unwrap();
                let jwk = ec_jwk(&ec, crv, width);
                (PKey::from_ec_key(ec).unwrap(), jwk)
            }
        };
        AccountKeyPair { alg, key, jwk }
    }

    /// A P-256 key that exists already (a certificate's, to revoke with it).
    pub fn from_p256(key: &PKey<Private>) -> Self {
        AccountKeyPair {
            alg: AccountAlg::Es256,
            key: key.clone(),
            jwk: ec_jwk(&key.ec_key().unwrap(), "P-256", 32),
        }
    }

    /// The RFC 7638 thumbprint.
    pub fn thumbprint(&self) -> String {
        let canonical = match self.alg {
            AccountAlg::Rs256 => json!({"e": self.jwk["e"], "kty": "RSA", "n": self.jwk["n"]}),
            AccountAlg::EdDsa => json!({"crv": "Ed25519", "kty": "OKP", "x": self.jwk["x"]}),
            _ => {
                json!({"crv": self.jwk["crv"], "kty": "EC", "x": self.jwk["x"], "y": self.jwk["y"]})
            }
        };
        b64u(hash(MessageDigest::sha256(), canonical.to_string().as_bytes()).unwrap())
    }

    /// A JWS signature over `input`, as JOSE writes it.
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self.alg {
            AccountAlg::EdDsa => {
                let mut signer = Signer::new_without_digest(&self.key).unwrap();
                signer.sign_oneshot_to_vec(input).unwrap()
            }
            AccountAlg::Rs256 => {
                let mut signer = Signer::new(MessageDigest::sha256(), &self.key).unwrap();
                signer.update(input).unwrap();
                signer.sign_to_vec().unwrap()
            }
            _ => {
                let (digest, width) = match self.alg {
                    AccountAlg::Es256 => (MessageDigest::sha256(), 32),
                    AccountAlg::Es384 => (MessageDigest::sha384(), 48),
                    _ => (MessageDigest::sha512(), 66),
                };
                assert_eq!(self.key.id(), Id::EC);
                let mut signer = Signer::new(digest, &self.key).unwrap();
                signer.update(input).unwrap();
                let der = signer.sign_to_vec().unwrap();
                let sig = EcdsaSig::from_der(&der).unwrap();
                let mut out = sig.r().to_vec_padded(width).unwrap();
                out.extend(sig.s().to_vec_padded(width).unwrap());
                out
            }
        }
    }
}

/// The public JWK of an EC key on curve `crv`, coordinates `width` bytes.
fn ec_jwk<T: openssl::pkey::HasPublic>(ec: &EcKey<T>, crv: &str, width: i32) -> Value {
    let mut ctx = BigNumContext::new().unwrap();
    let mut x = openssl::bn::BigNum::new().unwrap();
    let mut y = openssl::bn::BigNum::new().unwrap();
    ec.public_key()
        .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
        .unwrap();
    json!({
        "kty": "EC",
        "crv": crv,
        "x": b64u(x.to_vec_padded(width).unwrap()),
        "y": b64u(y.to_vec_padded(width).unwrap()),
    })
}

/// A flattened JWS.
pub fn jws(key: &AccountKeyPair, protected: &Value, payload: &[u8]) -> Value {
    let protected = b64u(protected.to_string());
    let payload = b64u(payload);
    let signature = b64u(key.sign(format!("{protected}.{payload}").as_bytes()));
    json!({ "protected": protected, "payload": payload, "signature": signature })
}

/// What the server answered.
#[derive(Debug, Clone)]
pub struct AcmeReply {
    /// The HTTP status.
    pub status: u16,
    /// Header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl AcmeReply {
    /// The body as JSON (Null if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The first header of that name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a problem of this type (without the namespace) whose detail
    /// contains `detail`.
    pub fn assert_problem(&self, kind: &str, detail: &str) -> &Self {
        let doc = self.json();
        assert_eq!(
            doc["type"].as_str(),
            Some(format!("urn:ietf:params:acme:error:{kind}").as_str()),
            "expected a {kind} problem: {self:?}"
        );
        assert!(
            doc["detail"].as_str().unwrap_or("").contains(detail),
            "expected the detail to mention {detail:?}: {self:?}"
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        self
    }
}

/// One client: one account key, talking to one directory.
pub struct AcmeTestClient {
    /// The directory.
    pub directory: Value,
    ca: PathBuf,
    /// The account key.
    pub key: AccountKeyPair,
    /// The account URL, once registered.
    pub kid: Option<String>,
}

impl AcmeTestClient {
    /// Reads the directory at `url`, trusting `ca` for the endpoint.
    pub fn new(url: &str, ca: &Path, alg: AccountAlg) -> Self {
        let out = curl().arg("--cacert").arg(ca).arg(url).assert_success();
        let directory: Value = serde_json::from_str(&out.stdout).unwrap();
        AcmeTestClient {
            directory,
            ca: ca.to_path_buf(),
            key: AccountKeyPair::generate(alg),
            kid: None,
        }
    }

    /// A URL from the directory.
    pub fn url(&self, name: &str) -> String {
        self.directory[name].as_str().unwrap().to_owned()
    }

    fn curl(&self) -> TestCommand {
        let mut cmd = curl();
        cmd.arg("--cacert").arg(&self.ca).arg("--include");
        cmd
    }

    fn reply(out: &crate::Output) -> AcmeReply {
        let text = &out.stdout;
        // Skip "HTTP/1.1 100 Continue" and the like.
        let mut rest = text.as_str();
        loop {
            let (head, body) = rest
                .split_once("\r\n\r\n")
                .unwrap_or_else(|| panic!("no HTTP answer: {out}"));
            let status: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("no status: {out}"));
            if (100..200).contains(&status) {
                rest = body;
                continue;
            }
            let headers = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            return AcmeReply {
                status,
                headers,
                body: body.to_owned(),
            };
        }
    }

    /// A fresh nonce.
    pub fn nonce(&self) -> String {
        let out = self
            .curl()
            .arg("--head")
            .arg(self.url("newNonce"))
            .assert_success();
        Self::reply(&out)
            .header("replay-nonce")
            .unwrap_or_else(|| panic!("no Replay-Nonce: {out}"))
            .to_owned()
    }

    /// POSTs a body as it is, with the JOSE media type.
    pub fn post_raw(&self, url: &str, body: &str, content_type: &str) -> AcmeReply {
        let out = self
            .curl()
            .args(["-X", "POST", "-H"])
            .arg(format!("Content-Type: {content_type}"))
            .arg("--data-binary")
            .arg(body)
            .arg(url)
            .assert_success();
        Self::reply(&out)
    }

    /// The protected header this client would send to `url`: the account
    /// by `kid` once registered, except to newAccount, which always takes
    /// the key itself.
    pub fn protected(&self, url: &str, nonce: &str) -> Value {
        let mut header = json!({ "alg": self.key.alg.name(), "nonce": nonce, "url": url });
        match &self.kid {
            Some(kid) if url != self.url("newAccount") => header["kid"] = json!(kid),
            _ => header["jwk"] = self.key.jwk.clone(),
        }
        header
    }

    /// A signed POST (`payload` None is POST-as-GET).
    pub fn post(&self, url: &str, payload: Option<&Value>) -> AcmeReply {
        let nonce = self.nonce();
        self.post_with_nonce(url, payload, &nonce)
    }

    /// A signed POST with this nonce.
    pub fn post_with_nonce(&self, url: &str, payload: Option<&Value>, nonce: &str) -> AcmeReply {
        let payload = payload.map(Value::to_string).unwrap_or_default();
        let body = jws(&self.key, &self.protected(url, nonce), payload.as_bytes());
        self.post_raw(url, &body.to_string(), "application/jose+json")
    }

    /// Registers (or finds) the account; keeps its URL.
    pub fn register(&mut self) -> AcmeReply {
        let reply = self.post(
            &self.url("newAccount"),
            Some(&json!({ "termsOfServiceAgreed": true, "contact": ["mailto:dev@example.com"] })),
        );
        assert!(matches!(reply.status, 200 | 201), "{reply:?}");
        self.kid = reply.header("location").map(str::to_owned);
        reply
    }

    /// Places an order for DNS names; the order URL and document.
    pub fn order(&self, names: &[&str]) -> (String, Value) {
        let identifiers: Vec<Value> = names
            .iter()
            .map(|n| json!({ "type": "dns", "value": n }))
            .collect();
        let reply = self.post(
            &self.url("newOrder"),
            Some(&json!({ "identifiers": identifiers })),
        );
        assert_eq!(reply.status, 201, "{reply:?}");
        (reply.header("location").unwrap().to_owned(), reply.json())
    }

    /// The key authorization's dns-01 digest for a token.
    pub fn dns_digest(&self, token: &str) -> String {
        let key_authorization = format!("{token}.{}", self.key.thumbprint());
        b64u(hash(MessageDigest::sha256(), key_authorization.as_bytes()).unwrap())
    }

    /// Polls `url` (POST-as-GET) until `field` leaves `pending`/`processing`.
    pub fn poll(&self, url: &str) -> Value {
        for _ in 0..100 {
            let doc = self.post(url, None).json();
            if !matches!(doc["status"].as_str(), Some("pending" | "processing")) {
                return doc;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{url} stayed pending");
    }
}

/// A CSR for `names` with a new P-256 key, DER, and the key.
pub fn csr_der(names: &[&str]) -> (Vec<u8>, pki::PrivateKey) {
    let key = pki::PrivateKey::generate(pki::KeyType::P256).unwrap();
    let csr = pki::Csr::new(&pki::CsrParams::new(names).unwrap(), &key).unwrap();
    (csr.to_der().unwrap(), key)
}
