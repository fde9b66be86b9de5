//! A server built with the library the way an application would, used by
//! the end-to-end tests: a throwaway CA (`pki::testing::TestCa`, its
//! certificate written to `DIR/ca.pem`), a default identity for localhost
//! and an SNI one for `api.test`, and ALPN limited to HTTP/1.1 through
//! `TlsServerBuilder::customize`, which reaches every context the server
//! switches handshakes to.
//!
//! `customize PORT DIR [--without-on-connect]`; the flag leaves out
//! `.on_connect(actix_https::on_connect)`, the mistake whose 500 the tests
//! check.
#![allow(clippy::print_stdout)]

use actix_https::{ClientCert, TlsInfo, TlsServerBuilder, on_connect};
use actix_web::{App, HttpServer, get};
use openssl::ssl::{AlpnError, select_next_proto};

#[get("/")]
async fn alpn(info: TlsInfo) -> String {
    format!("alpn={}\n", info.alpn.unwrap_or_default())
}

#[get("/client")]
async fn client(client: ClientCert) -> String {
    client.subject
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().ok_or("give PORT DIR")?.parse()?;
    let dir = std::path::PathBuf::from(args.next().ok_or("give PORT DIR")?);
    let with_on_connect = args.next().as_deref() != Some("--without-on-connect");

    let ca = pki::testing::TestCa::new()?;
    ca.write_ca_pem(&dir)?;
    let tls = TlsServerBuilder::new(ca.server()?)
        .sni("api.test", ca.server_for(["api.test"])?)?
        .customize(|builder| {
            builder.set_alpn_select_callback(|_, offered| {
                select_next_proto(b"\x08http/1.1", offered).ok_or(AlpnError::NOACK)
            });
            Ok(())
        })
        .build()?;

    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(|| App::new().service(alpn).service(client)).workers(1);
        let server = if with_on_connect {
            server.on_connect(on_connect)
        } else {
            server
        };
        let server = server.bind_openssl(("127.0.0.1", port), tls.acceptor()?)?;
        println!("Serving https://localhost:{port}/");
        server.run().await?;
        Ok(())
    })
}
