//! `pki` makes the certificates local HTTPS and mutual TLS need, correct by
//! default: v3, subjectAltName always, keyUsage and extendedKeyUsage by
//! profile, key identifiers, random 128-bit serials, lifetimes Apple and
//! browsers accept. It is a thin, typed layer over the `openssl` crate, and
//! each public function names the `openssl` command it replaces.
//!
//! The paved path: a CA, then certificates from it.
//!
//! ```
//! use pki::{Ca, CaParams, CertParams, Profile};
//!
//! // `openssl req -x509 -new …`: a root CA, in memory (see `Ca::create_in` for disk).
//! let ca = Ca::generate(&CaParams::new())?;
//!
//! // `openssl req -newkey …` + `openssl x509 -req -CA …`: a server certificate.
//! let server = ca.issue(&CertParams::new(["localhost", "127.0.0.1", "::1"])?)?;
//! assert_eq!(server.certificate().subject_alt_names().len(), 3);
//!
//! // A client certificate for mutual TLS.
//! let client = ca.issue(&CertParams::new(["alice@example.test"])?.profile(Profile::Client))?;
//! assert!(client.certificate().matches_key(client.key()));
//!
//! // An `Identity` goes into an `SslAcceptor` (`configure`), PEM or PKCS#12.
//! let pem = server.chain_pem()?;
//! assert!(pem.starts_with(b"-----BEGIN CERTIFICATE-----"));
//! # Ok::<(), pki::Error>(())
//! ```
//!
//! In other crates' tests, [`testing::TestCa`] gives a throwaway CA and
//! server or client identities from it in a line each (Python's trustme),
//! with `create_child_ca` for chains through an intermediate.
//!
//! Names are parsed once, at the boundary ([`SubjectAltName::parse`]), and
//! refused with the rule they break; errors are one [`Error`] enum whose
//! messages name the file or value. This crate never prints, opens no
//! sockets, reads no environment variables and starts no process; putting
//! the CA into trust stores (which runs their tools) is the `pki-trust`
//! crate's job.

pub mod ca;
pub mod cert;
pub mod crl;
pub mod csr;
mod der;
pub mod error;
pub mod fs;
pub mod identity;
pub mod inspect;
pub mod key;
pub mod name;
pub mod passphrase;
mod pem;
pub mod pkcs12;
pub mod testing;
pub mod time;
pub mod verify;
mod x509;

pub use ca::{Ca, CaParams, LoadOrCreate, self_signed};
pub use cert::{CertParams, Certificate, Profile};
pub use csr::{Csr, CsrParams};
pub use error::{Error, Origin, Result};
pub use fs::Overwrite;
pub use identity::Identity;
pub use key::{KeyType, PrivateKey};
pub use name::{NameConstraint, SubjectAltName};
pub use passphrase::Passphrase;
pub use pkcs12::{Pkcs12Encryption, Pkcs12Params};

/// The crate README's examples, compiled (and run where they can) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
