#!/bin/sh
# Make this deployment's own CA and the broker's server certificate (openssl).
#
#   deploy/make-certs.sh broker.example.org 203.0.113.7    # names/addresses stations dial
#   deploy/make-certs.sh --out DIR --days 825 --force NAME...
#
# Writes into deploy/certs (or --out DIR): ca.crt, ca.key, server.crt, server.key; keys 0600.
# The server certificate always names DNS:mosquitto (the compose service), DNS:localhost and
# IP:127.0.0.1 as well as the arguments (a bare name is DNS:, a bare address IP:).
# Idempotent: an existing CA is kept (--force makes a new one, and every station must then get
# the new ca.crt); the server certificate is reissued only when its names change, it was not
# signed by this CA, or it expires within 30 days. ca.key stays on this host: no container
# mounts it. Give ca.crt to every station and client.
set -eu
usage() {
  echo "usage: $0 [--out DIR] [--days N] [--rsa] [--force] [NAME|DNS:name|IP:addr ...]" >&2
  exit 2
}
fail() { echo "$0: $*" >&2; exit 1; }
OUT="$(dirname "$0")/certs"
DAYS=825
FORCE=""
KEY="ec"
SANS="DNS:mosquitto,DNS:localhost,IP:127.0.0.1"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || usage; OUT=$2; shift 2 ;;
    --days)
      [ $# -ge 2 ] || usage
      printf '%s' "$2" | grep -Eq '^[1-9][0-9]{0,4}$' || fail "--days wants a whole number of days"
      DAYS=$2; shift 2 ;;
    --rsa) KEY="rsa"; shift ;;
    --force) FORCE=1; shift ;;
    -h|--help) usage ;;
    -*) usage ;;
    *)
      case "$1" in
        DNS:*|IP:*) san=$1 ;;
        *) if printf '%s' "$1" | grep -Eq '^[0-9.]+$|:'; then san="IP:$1"; else san="DNS:$1"; fi ;;
      esac
      printf '%s' "${san#*:}" | grep -Eq '^[A-Za-z0-9.:*-]+$' || fail "bad certificate name '$1'"
      case ",$SANS," in *",$san,"*) ;; *) SANS="$SANS,$san" ;; esac
      shift ;;
  esac
done
command -v openssl >/dev/null || fail "openssl is not installed"
mkdir -p "$OUT"
cd "$OUT"
umask 077
newkey() {
  if [ "$KEY" = rsa ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$1" 2>/dev/null
  else
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null
  fi
  chmod 0600 "$1"
}

if [ -n "$FORCE" ] || [ ! -s ca.key ] || [ ! -s ca.crt ]; then
  newkey ca.key.new
  openssl req -x509 -new -key ca.key.new -days 3650 -subj "/CN=SolarWater deployment CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" -out ca.crt.new
  mv ca.key.new ca.key
  mv ca.crt.new ca.crt
  rm -f server.crt
  echo "made a new CA: $OUT/ca.crt (give it to every station and client; keep ca.key here)"
fi

cat > server.ext.new <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
subjectAltName=$SANS
EXT
if [ -s server.crt ] && [ -s server.key ] && cmp -s server.ext server.ext.new \
  && openssl verify -CAfile ca.crt server.crt >/dev/null 2>&1 \
  && openssl x509 -in server.crt -noout -checkend 2592000 >/dev/null; then
  rm -f server.ext.new
  echo "kept the server certificate $OUT/server.crt ($SANS)"
  exit 0
fi
mv server.ext.new server.ext
newkey server.key.new
openssl req -new -key server.key.new -subj "/CN=mosquitto" -out server.csr
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days "$DAYS" \
  -extfile server.ext -out server.crt.new 2>/dev/null
mv server.key.new server.key
mv server.crt.new server.crt
rm -f server.csr
chmod 0644 ca.crt server.crt
echo "made the server certificate $OUT/server.crt ($SANS); restart the broker to use it"
