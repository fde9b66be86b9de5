//! Creates (or reuses) a CA directory and issues a server certificate for
//! the given names next to it, the way a project's setup script would:
//! `cargo run -p pki --example local_https -- ./dev-ca localhost 127.0.0.1 ::1`.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use pki::{Ca, CaParams, CertParams, Overwrite};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: local_https CA_DIR NAME...")?);
    let names: Vec<String> = args.collect();
    let names = if names.is_empty() {
        vec!["localhost".to_owned()]
    } else {
        names
    };

    let ca = Ca::load_or_create(&dir, &CaParams::new(), None)?.into_ca();
    let params = CertParams::new(&names)?;
    for warning in params.warnings() {
        println!("warning: {warning}");
    }
    let issued = ca.issue(&params)?;
    let cert = dir.join(format!("{}.pem", names[0].replace('*', "_wildcard")));
    let key = dir.join(format!("{}-key.pem", names[0].replace('*', "_wildcard")));
    issued.write_pem(&cert, &key, None, Overwrite::Replace)?;
    println!(
        "certificate: {}\nkey:         {}",
        cert.display(),
        key.display()
    );
    println!(
        "try:         curl --cacert {} https://localhost:8443/",
        Path::new(&dir).join(pki::ca::CA_CERT_FILE).display()
    );
    Ok(())
}
