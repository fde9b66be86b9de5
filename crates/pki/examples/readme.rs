//! The crate README's first example as a program: the CA of `my-ca/`
//! (created on the first run, loaded on the next), and a certificate for
//! localhost written to `localhost.pem` and `localhost-key.pem`. Runs any
//! number of times in a row; the end-to-end tests run it twice.

use pki::{Ca, CaParams, CertParams, Overwrite};

fn main() -> Result<(), pki::Error> {
    let ca = Ca::load_or_create("my-ca", &CaParams::new(), None)?.into_ca();
    let issued = ca.issue(&CertParams::new(["localhost", "127.0.0.1", "::1"])?)?;
    // What a server sends (leaf, then intermediates), and its key (mode 0600).
    issued.write_pem(
        "localhost.pem",
        "localhost-key.pem",
        None,
        Overwrite::Replace,
    )?;
    Ok(())
}
