//! How fast the common paths are: key generation per algorithm, issuing a
//! P-256 leaf ready to write (key + certificate + PEM), signing a CSR, and
//! writing the whole fixture set. Run with `cargo bench -p pki`.
//!
//! First it times the same issuance with rcgen (the crate Rust projects
//! would otherwise pick) in the same run, interleaved, and prints the ratio.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group};
use pki::{Ca, CaParams, CertParams, Csr, CsrParams, KeyType, PrivateKey};

fn key_generation(c: &mut Criterion) {
    let mut group = c.benchmark_group("key_generation");
    for kt in KeyType::ALL {
        if matches!(kt, KeyType::Rsa3072 | KeyType::Rsa4096) {
            // Slow and highly variable (prime search): few samples suffice.
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(20));
        } else {
            group
                .sample_size(50)
                .measurement_time(Duration::from_secs(5));
        }
        group.bench_with_input(BenchmarkId::from_parameter(kt), &kt, |b, &kt| {
            b.iter(|| PrivateKey::generate(kt).unwrap());
        });
    }
    group.finish();
}

fn issuing(c: &mut Criterion) {
    let ca = Ca::generate(&CaParams::new()).unwrap();
    let params = CertParams::new(["localhost", "127.0.0.1", "::1"]).unwrap();
    c.bench_function("issue_p256_leaf_to_pem", |b| {
        b.iter(|| pki_leaf(&ca, &params));
    });

    let key = PrivateKey::generate(KeyType::P256).unwrap();
    let csr = Csr::new(&CsrParams::new(["localhost"]).unwrap(), &key).unwrap();
    let csr_params = CertParams::from_csr(&csr).unwrap();
    c.bench_function("sign_csr_p256", |b| {
        b.iter(|| ca.sign_csr(&csr, &csr_params).unwrap());
    });
}

fn fixtures(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("fixtures");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("write_fixture_set", |b| {
        b.iter(|| pki_fixtures::write_all(dir.path()).unwrap());
    });
    group.finish();
}

criterion_group!(benches, key_generation, issuing, fixtures);

/// A P-256 leaf for localhost, 127.0.0.1 and ::1 from a P-256 CA, with a
/// fresh key, both as PEM, by pki.
fn pki_leaf(ca: &Ca, params: &CertParams) -> (Vec<u8>, Vec<u8>) {
    let issued = ca.issue(params).unwrap();
    (
        issued.certificate().to_pem().unwrap(),
        issued.key().to_pem().unwrap(),
    )
}

/// The same by rcgen, with the extensions pki writes (serverAuth,
/// digitalSignature, both key identifiers, a common name).
fn rcgen_leaf(issuer: &rcgen::Issuer<'_, rcgen::KeyPair>) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into(), "::1".into()])
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// pki against rcgen in one run: rounds of each in turn, the median time
/// per leaf of each, and the ratio.
fn compare_with_rcgen() {
    const ROUNDS: usize = 7;
    const PER_ROUND: u32 = 300;
    let ca = Ca::generate(&CaParams::new()).unwrap();
    let params = CertParams::new(["localhost", "127.0.0.1", "::1"]).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "rcgen bench CA");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let time = |f: &dyn Fn()| {
        let start = std::time::Instant::now();
        for _ in 0..PER_ROUND {
            f();
        }
        start.elapsed().as_secs_f64() * 1e6 / f64::from(PER_ROUND)
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.push(time(&|| drop(pki_leaf(&ca, &params))));
        theirs.push(time(&|| drop(rcgen_leaf(&issuer))));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (ours, theirs) = (median(&mut ours), median(&mut theirs));
    println!(
        "issue a P-256 leaf to PEM (fresh key, 3 names), medians of {ROUNDS} rounds of {PER_ROUND}: \
         pki {ours:.1} µs, rcgen {theirs:.1} µs; pki takes {:.2}× rcgen's time",
        ours / theirs
    );
}

fn main() {
    compare_with_rcgen();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
