//! The front door in an application's own server, used by the end-to-end
//! tests: the library's reverse proxy and static files mounted on an
//! actix-web `App` next to the application's own route, with mutual TLS
//! (optional) from a throwaway CA whose files go to `DIR` (`ca.pem`,
//! `alice-bundle.pem`).
//!
//! `front_door PORT DIR UPSTREAM_URL SITE_DIR`: `/api/…` goes to the app at
//! UPSTREAM_URL with the verified client certificate forwarded,
//! `/files/…` serves SITE_DIR, `/own` is the program's own handler, and
//! what is not found is the program's own 404.
#![allow(clippy::print_stdout)]

use actix_https::proxy::{Upstream, reverse_proxy};
use actix_https::{ClientAuth, ClientVerification, TlsServerBuilder, on_connect};
use actix_web::{App, HttpResponse, HttpServer, get, web};

#[get("/own")]
async fn own() -> &'static str {
    "the program's own handler\n"
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "give PORT DIR UPSTREAM_URL SITE_DIR";
    let port: u16 = args.next().ok_or(usage)?.parse()?;
    let dir = std::path::PathBuf::from(args.next().ok_or(usage)?);
    let upstream = Upstream::parse(&args.next().ok_or(usage)?)?;
    let site = std::path::PathBuf::from(args.next().ok_or(usage)?);

    let ca = pki::testing::TestCa::new()?;
    ca.write_ca_pem(&dir)?;
    ca.client("alice.example.test")?
        .write_bundle_pem(dir.join("alice-bundle.pem"), pki::Overwrite::Replace)?;
    let tls = TlsServerBuilder::new(ca.server()?)
        .client_auth(ClientVerification::new(
            ClientAuth::Optional,
            vec![ca.certificate().clone()],
        ))
        .build()?;

    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .service(own)
                .service(reverse_proxy("/api", upstream.clone()))
                .service(actix_https::files::static_files("/files", &site))
                .default_service(web::to(|| async {
                    HttpResponse::NotFound().body("the program's own 404\n")
                }))
        })
        .workers(1)
        .on_connect(on_connect)
        .bind_openssl(("127.0.0.1", port), tls.acceptor()?)?;
        println!("Serving https://localhost:{port}/");
        server.run().await?;
        Ok(())
    })
}
