//! An app that lets a client in by its certificate: mutual TLS with a test
//! CA, and a handler that authorises by the email in the client certificate.
//!
//! Run it, then try it with the files it writes:
//!
//! ```text
//! cargo run -p actix-https --example authorise_by_client_cert
//! curl --cacert target/authorise-example/ca.pem -E target/authorise-example/alice-bundle.pem https://localhost:9443/admin
//! curl --cacert target/authorise-example/ca.pem -E target/authorise-example/bob-bundle.pem https://localhost:9443/admin
//! ```
#![allow(clippy::print_stdout)]

use actix_https::{ClientAuth, ClientCert, ClientVerification, TlsServerBuilder, on_connect};
use actix_web::{App, HttpResponse, HttpServer, get};
use pki::SubjectAltName;
use pki::testing::TestCa;

/// Who may see /admin: the email addresses in their certificates.
const ADMINS: [&str; 1] = ["alice@example.test"];

#[get("/admin")]
async fn admin(client: ClientCert) -> HttpResponse {
    let is_admin = client.names.iter().any(|name| match name {
        SubjectAltName::Email(address) => ADMINS.contains(&address.as_str()),
        _ => false,
    });
    if is_admin {
        HttpResponse::Ok().body(format!("welcome, {}\n", client.subject))
    } else {
        HttpResponse::Forbidden().body(format!(
            "{} is not an administrator\n",
            client.subject_alt_names.join(", ")
        ))
    }
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ca = TestCa::new()?;
    let out =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/authorise-example");
    pki::fs::create_private_dir(&out)?;
    ca.write_ca_pem(&out)?;
    for who in ["alice", "bob"] {
        // Certificate and key in one file, as `curl -E` takes it.
        ca.client(&format!("{who}@example.test"))?
            .write_bundle_pem(
                out.join(format!("{who}-bundle.pem")),
                pki::Overwrite::Replace,
            )?;
    }
    let server = ca.server()?;
    let tls = TlsServerBuilder::new(server)
        .client_auth(ClientVerification::new(
            ClientAuth::Required,
            vec![ca.certificate().clone()],
        ))
        .build()?;
    println!(
        "https://localhost:9443/admin; client files in {}",
        out.display()
    );
    HttpServer::new(|| App::new().service(admin))
        .on_connect(on_connect)
        .tcp_nodelay(true)
        .bind_openssl("127.0.0.1:9443", tls.acceptor()?)?
        .run()
        .await?;
    Ok(())
}
