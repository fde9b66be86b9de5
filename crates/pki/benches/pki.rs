//! How fast the common paths are: key generation per algorithm, issuing a
//! P-256 leaf ready to write (key + certificate + PEM), signing a CSR, and
//! writing the whole fixture set. Run with `cargo bench -p pki`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
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
        b.iter(|| {
            let issued = ca.issue(&params).unwrap();
            (
                issued.certificate.to_pem().unwrap(),
                issued.key.to_pem().unwrap(),
            )
        });
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
criterion_main!(benches);
