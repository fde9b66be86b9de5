#!/bin/sh
# The pki fixture set (crates/pki/src/fixtures.rs), made with the openssl CLI
# the way the seed recipes make certificates, so `cargo xtask bench` can time
# both. Usage: fixtures-openssl.sh OUT_DIR
set -eu
out=$1
mkdir -p "$out"
passphrase="pki fixture pass phrase"

family() {
    fam=$1
    dir="$out/$fam"
    mkdir -p "$dir"
    cd "$dir"
    genkey() {
        if [ "$fam" = rsa ]; then
            openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
        else
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
        fi
    }
    cat > ext.cnf <<'CNF'
[inter]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = email:client@example.test
[wrong]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:elsewhere.test
CNF
    root() { # key cert cn
        genkey "$1"
        openssl req -x509 -new -key "$1" -subj "/CN=$3" -days 3650 -sha256 \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$2"
    }
    sign() { # stem cn issuer-cert issuer-key section days
        genkey "$1-key.pem"
        openssl req -new -key "$1-key.pem" -subj "/CN=$2" -out "$1.csr"
        openssl x509 -req -in "$1.csr" -CA "$3" -CAkey "$4" -CAcreateserial \
            -days "$6" -sha256 -extfile ext.cnf -extensions "$5" -out "$1.pem" 2>/dev/null
    }
    root ca-key.pem ca.pem "pki fixture root CA"
    sign intermediate "pki fixture intermediate CA" ca.pem ca-key.pem inter 1825
    root untrusted-ca-key.pem untrusted-ca.pem "pki fixture untrusted CA"
    sign server localhost ca.pem ca-key.pem server 825
    printf '%s\n' "$passphrase" > encrypted-key.pass
    openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -in server-key.pem \
        -passout file:encrypted-key.pass -out encrypted-key.pem
    sign server-chain localhost intermediate.pem intermediate-key.pem server 825
    cat intermediate.pem >> server-chain.pem
    sign client "pki fixture client" ca.pem ca-key.pem client 825
    cat client.pem client-key.pem > client-bundle.pem
    sign untrusted-client "pki fixture client" untrusted-ca.pem untrusted-ca-key.pem client 825
    sign wrong-host elsewhere.test ca.pem ca-key.pem wrong 825
    # x509 -req cannot set past or future dates; `openssl ca` can, with its database.
    : > index.txt
    cat > ca.cnf <<'CNF'
[ca]
default_ca = fixture
[fixture]
database = index.txt
new_certs_dir = .
certificate = ca.pem
private_key = ca-key.pem
default_md = sha256
policy = any
rand_serial = yes
unique_subject = no
[any]
commonName = supplied
CNF
    for stem in expired not-yet-valid; do
        if [ "$stem" = expired ]; then
            start=$(date -u -d '-60 days' +%Y%m%d%H%M%SZ)
            end=$(date -u -d '-30 days' +%Y%m%d%H%M%SZ)
        else
            start=$(date -u -d '+30 days' +%Y%m%d%H%M%SZ)
            end=$(date -u -d '+120 days' +%Y%m%d%H%M%SZ)
        fi
        genkey "$stem-key.pem"
        openssl req -new -key "$stem-key.pem" -subj "/CN=localhost" -out "$stem.csr"
        openssl ca -batch -notext -config ca.cnf -extfile ext.cnf -extensions server \
            -startdate "$start" -enddate "$end" -in "$stem.csr" -out "$stem.pem" 2>/dev/null
    done
    rm -f ./*.csr ./*.srl index.txt* serial* ca.cnf ext.cnf ./[0-9A-F]*.pem
    cd - >/dev/null
}

family ecdsa
family rsa
