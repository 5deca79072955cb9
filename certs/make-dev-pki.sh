#!/bin/sh
# make-dev-pki.sh [DIR] - make the throw-away development PKI of mim-gateway
# (default DIR: certs/dev).  See certs/README.md for what each file is.
#
# Idempotent: does nothing when DIR/.complete exists and the certificates are
# still valid for a day.  Everything is made in a temporary directory next to
# DIR and renamed into place at the end, so an interrupted run never leaves a
# half-made PKI behind.  Never use this material in production.

set -eu

DIR=${1:-certs/dev}
DIR=${DIR%/}
LEAF_DAYS=730           # leaf certificates: two years
CA_DAYS=3650            # root and intermediate: ten years

die() {
    echo "make-dev-pki: $*" >&2
    exit 1
}

command -v openssl >/dev/null 2>&1 \
    || die "openssl not found: apt-get install -y openssl"

# Up to date: nothing to do.  An expiring PKI is made again from scratch.
if [ -f "$DIR/.complete" ]; then
    if openssl x509 -checkend 86400 -noout -in "$DIR/tls.crt" \
            >/dev/null 2>&1; then
        exit 0
    fi
    echo "make-dev-pki: $DIR expires within a day; making a new one"
elif [ -d "$DIR" ] && [ -n "$(ls -A "$DIR")" ]; then
    # Never delete a directory this script did not finish: it may not be ours.
    die "$DIR exists but is not a complete dev PKI; remove it and run again"
fi

parent=$(dirname "$DIR")
mkdir -p "$parent"
work=$(mktemp -d "$parent/.$(basename "$DIR").tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP

umask 077               # keys are born private; certificates opened below

# ---------------------------------------------------------------- helpers --

# openssl, quiet unless it fails
ossl() {
    if ! out=$(openssl "$@" 2>&1); then
        echo "$out" >&2
        die "openssl $1 failed"
    fi
}

new_key() {             # NAME ec|rsa|ed25519
    case $2 in
        ec)      ossl genpkey -algorithm EC -out "$work/$1.key" \
                     -pkeyopt ec_paramgen_curve:P-256 \
                     -pkeyopt ec_param_enc:named_curve ;;
        rsa)     ossl genpkey -algorithm RSA -out "$work/$1.key" \
                     -pkeyopt rsa_keygen_bits:2048 ;;
        ed25519) ossl genpkey -algorithm ED25519 -out "$work/$1.key" ;;
    esac
}

# random positive 120-bit serial number
serial() {
    echo "0x$(openssl rand -hex 15)"
}

# extension sections, referenced by name below
cat > "$work/ext.cnf" <<'EOF'
[root_ca]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[intermediate_ca]
basicConstraints       = critical, CA:true, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[tls_server]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[signer]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
EOF

# NAME SUBJECT ISSUER EXTENSIONS DAYS: certificate for NAME.key, signed by
# ISSUER.key/ISSUER.crt
issue() {
    ossl req -new -key "$work/$1.key" -subj "$2" -out "$work/$1.csr"
    ossl x509 -req -in "$work/$1.csr" -sha256 -days "$5" \
        -CA "$work/$3.crt" -CAkey "$work/$3.key" -set_serial "$(serial)" \
        -extfile "$work/ext.cnf" -extensions "$4" -out "$work/$1.crt"
    rm -f "$work/$1.csr"
}

# NAME SUBJECT: self-signed root CA
root_ca() {
    new_key "$1" ec
    ossl req -new -x509 -key "$work/$1.key" -subj "$2" -sha256 \
        -days "$CA_DAYS" -set_serial "$(serial)" \
        -config "$work/ext.cnf" -extensions root_ca -out "$work/$1.crt"
}

# NAME: NAME-chain.crt = leaf + the CA under the root that issued it
chain() {
    cat "$work/$1.crt" "$work/$2.crt" > "$work/$1-chain.crt"
}

# ---------------------------------------------------------------- the PKI --

CITY="/C=NL/O=City of Example"

# Trust anchor and the intermediate CA that issues everything else.
root_ca ca "$CITY/CN=mim-gateway dev root CA"
new_key intermediate ec
issue intermediate "$CITY/CN=mim-gateway dev intermediate CA" ca \
    intermediate_ca "$CA_DAYS"
cp "$work/ca.crt" "$work/ca-bundle.crt"

# TLS server certificate for the demo, tests and benchmark (localhost).
new_key tls ec
issue tls "$CITY/CN=localhost" intermediate tls_server "$LEAF_DAYS"
chain tls intermediate

# Response-signing keys (mim_signing_key) and their chains (mim_signing_cert).
for kind in es256:ec rsa:rsa ed25519:ed25519; do
    name=sign-${kind%%:*}
    new_key "$name" "${kind#*:}"
    issue "$name" "$CITY/CN=mim-gateway response signing" intermediate \
        signer "$LEAF_DAYS"
    chain "$name" intermediate
    ossl pkey -in "$work/$name.key" -pubout -out "$work/$name.pub.pem"
done

# iSHARE parties: the party id is the subject serialNumber.
party() {               # NAME ORGANISATION PARTY-ID ISSUER
    new_key "$1" rsa
    issue "$1" "/C=NL/O=$2/CN=$2/serialNumber=$3" "$4" signer "$LEAF_DAYS"
    chain "$1" "$4"
}
party participant1 "Participant One" EU.EORI.NL000000001 intermediate
party participant2 "Participant Two" EU.EORI.NL000000002 intermediate
party gateway "City of Example" EU.EORI.NLSMARTCITY intermediate

# For negative tests: a CA outside ca-bundle.crt, and a certificate it issued
# that claims participant one's party id.
root_ca untrusted-ca "/C=NL/O=Nobody/CN=untrusted dev CA"
party untrusted-participant1 "Participant One" EU.EORI.NL000000001 \
    untrusted-ca

# Certificates and public keys are public; keys stay 0600.
chmod 0644 "$work"/*.crt "$work"/*.pem
chmod 0600 "$work"/*.key
rm -f "$work/ext.cnf"

# Check what we made before publishing it.
for leaf in tls sign-es256 sign-rsa sign-ed25519 participant1 participant2 \
            gateway; do
    ossl verify -CAfile "$work/ca-bundle.crt" \
        -untrusted "$work/intermediate.crt" "$work/$leaf.crt"
done

date -u +%Y-%m-%dT%H:%M:%SZ > "$work/.complete"
chmod 0644 "$work/.complete"
chmod 0755 "$work"

# Publish: rename into place.  If another run published first, keep its PKI.
if [ -d "$DIR" ]; then
    old=$(mktemp -d "$parent/.$(basename "$DIR").old.XXXXXX")
    mv "$DIR" "$old/pki"
    mv "$work" "$DIR"
    rm -rf "$old"
elif ! mv -T "$work" "$DIR" 2>/dev/null; then
    [ -f "$DIR/.complete" ] || die "could not rename $work to $DIR"
    exit 0
fi
echo "make-dev-pki: wrote $DIR (dev only, never for production)"
