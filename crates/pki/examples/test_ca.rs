//! Mutual TLS between two threads of one test, with certificates from
//! `pki::testing::TestCa`: the server requires a client certificate, the
//! client checks the server's name. Run: `cargo run -p pki --example test_ca`.
#![allow(clippy::print_stdout)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use openssl::ssl::{SslAcceptor, SslConnector, SslMethod, SslVerifyMode};
use pki::testing::TestCa;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ca = TestCa::new()?;

    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
    ca.server()?.configure(&mut acceptor)?;
    ca.trust(&mut acceptor)?;
    acceptor.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    let acceptor = acceptor.build();

    let mut connector = SslConnector::builder(SslMethod::tls())?;
    ca.trust(&mut connector)?;
    ca.client("alice@example.test")?.configure(&mut connector)?;
    let connector = connector.build();

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = thread::spawn(move || -> Result<String, String> {
        let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
        let mut tls = acceptor.accept(tcp).map_err(|e| e.to_string())?;
        let peer = tls
            .ssl()
            .peer_certificate()
            .map(|c| pki::Certificate::from_x509(c).subject())
            .unwrap_or_default();
        tls.write_all(b"hello").map_err(|e| e.to_string())?;
        Ok(peer)
    });

    let tcp = TcpStream::connect(addr)?;
    let mut tls = connector.connect("localhost", tcp)?;
    let mut reply = String::new();
    tls.read_to_string(&mut reply)?;
    let client_seen = server.join().map_err(|_| "server thread panicked")??;
    println!("client read {reply:?}; server saw client {client_seen}");
    Ok(())
}
