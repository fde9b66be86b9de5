//! Real certificates inside other crates' tests, in a few lines (what
//! Python's trustme gives): a throwaway CA and server and client
//! [`Identity`]s from it, each one call away from an `openssl` TLS context
//! ([`TestCa::trust`], [`Identity::configure`]) or from files
//! ([`TestCa::write_ca_pem`], [`Identity::write_pem`]).
//!
//! ```
//! use openssl::ssl::{SslAcceptor, SslConnector, SslMethod};
//!
//! let ca = pki::testing::TestCa::new()?;
//! let server = ca.server()?; // localhost, 127.0.0.1, ::1
//!
//! let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
//! server.configure(&mut acceptor)?;
//!
//! let mut connector = SslConnector::builder(SslMethod::tls())?;
//! ca.trust(&mut connector)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use openssl::ssl::SslContextBuilder;

use crate::ca::{Ca, CaParams};
use crate::cert::{CertParams, Certificate, Profile};
use crate::error::{OpenSslContext, Result};
use crate::fs::{self, Overwrite, Secrecy};
use crate::identity::Identity;

/// A throwaway CA for tests. Nothing it makes is trusted outside the
/// contexts and files it configures.
#[derive(Debug, Clone)]
pub struct TestCa {
    ca: Ca,
}

impl TestCa {
    /// A fresh P-256 root.
    pub fn new() -> Result<Self> {
        let ca = Ca::generate(&CaParams::new().common_name("pki test CA"))?;
        Ok(TestCa { ca })
    }

    /// An intermediate CA under this one (trustme's `create_child_ca`):
    /// the identities it issues carry the intermediate in their chain, and
    /// [`TestCa::trust`], [`TestCa::certificate`] and [`TestCa::write_ca_pem`]
    /// still give the root, as clients trust a real chain. An intermediate
    /// issues leaves only (pathlen 0), so a child has no children.
    pub fn create_child_ca(&self) -> Result<Self> {
        let ca = self
            .ca
            .issue_intermediate(&CaParams::new().common_name("pki test intermediate CA"))?;
        Ok(TestCa { ca })
    }

    /// The CA itself, to issue anything else.
    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    /// The root certificate clients must trust (this CA's own, for a root).
    pub fn certificate(&self) -> &Certificate {
        self.ca.root()
    }

    /// A server identity for `localhost`, `127.0.0.1` and `::1`.
    pub fn server(&self) -> Result<Identity> {
        self.server_for(["localhost", "127.0.0.1", "::1"])
    }

    /// A server identity for the given names.
    pub fn server_for<I, S>(&self, names: I) -> Result<Identity>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.ca.issue(&CertParams::new(names)?)
    }

    /// A client identity (clientAuth) for one name, e.g. `alice@example.test`.
    pub fn client(&self, name: &str) -> Result<Identity> {
        self.ca
            .issue(&CertParams::new([name])?.profile(Profile::Client))
    }

    /// Makes `builder` trust this CA: for a client checking servers, or a
    /// server checking client certificates (add `set_verify(PEER |
    /// FAIL_IF_NO_PEER_CERT)` for required mutual TLS). Works on
    /// `SslConnectorBuilder` and `SslAcceptorBuilder` through `DerefMut`.
    pub fn trust(&self, builder: &mut SslContextBuilder) -> Result<()> {
        builder
            .cert_store_mut()
            .add_cert(self.certificate().as_x509().clone())
            .context("add the test CA to the trust store")?;
        // Servers announce the CA in their CertificateRequest.
        builder
            .add_client_ca(self.certificate().as_x509())
            .context("announce the test CA to clients")
    }

    /// Writes the root certificate as `ca.pem` into `dir` and returns its path.
    pub fn write_ca_pem(&self, dir: impl AsRef<Path>) -> Result<PathBuf> {
        let dir = dir.as_ref();
        let path = dir.join("ca.pem");
        fs::write_atomic(
            &path,
            &self.certificate().to_pem()?,
            Secrecy::Public,
            Overwrite::Replace,
        )?;
        Ok(path)
    }
}
