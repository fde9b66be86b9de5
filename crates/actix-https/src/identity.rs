//! Which identities a server may serve, checked when one is loaded (at
//! start and on every reload), before a client ever sees it.

use std::path::Path;

use pki::{Certificate, Identity};

use crate::error::{Error, Result};

/// A CA certificate issued by another CA is refused as a server's own:
/// browsers refuse a CA as an end entity (Firefox names it
/// `CA_CERT_USED_AS_END_ENTITY`), and serving a sub-CA hands out what can
/// issue certificates. A self-signed one (`openssl req -x509` writes
/// `CA:TRUE` by default) is let through, since clients that trust it trust
/// it as itself; the binary warns about it ([`is_self_signed_ca`]).
pub(crate) fn check_servable(identity: &Identity, cert: &Path) -> Result<()> {
    let leaf = identity.certificate();
    if leaf.claims_ca() && !leaf.is_self_issued() {
        return Err(Error::CaAsLeaf {
            cert: cert.to_path_buf(),
            subject: leaf.subject(),
        });
    }
    Ok(())
}

/// Whether the certificate is a self-signed one that says `CA:TRUE`, as
/// `openssl req -x509` makes by default: curl, Python and Chrome accept it
/// when told to trust it, Firefox refuses it.
pub(crate) fn is_self_signed_ca(cert: &Certificate) -> bool {
    cert.claims_ca() && cert.is_self_issued()
}
