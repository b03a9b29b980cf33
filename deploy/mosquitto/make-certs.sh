#!/bin/sh
# A private CA and a broker certificate for edgewatch-tls.conf.
#   ./make-certs.sh OUTDIR NAME_OR_IP...    e.g.  ./make-certs.sh certs 192.168.1.20 edgebox.local
# Clients verify the broker against OUTDIR/edgewatch-ca.crt (mqtt.tls.ca_file), and
# the address they connect to must be one of the names given here.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 OUTDIR NAME_OR_IP..." >&2; exit 2; }
out=$1; shift
mkdir -p "$out"; cd "$out"
san=""
for name in "$@"; do
    case $name in
        *[!0-9.]*) entry="DNS:$name" ;;
        *) entry="IP:$name" ;;
    esac
    san="${san:+$san,}$entry"
done
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=edgewatch CA" \
    -keyout edgewatch-ca.key -out edgewatch-ca.crt
openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout server.key -out server.csr
printf 'subjectAltName=%s\n' "$san" > san.ext
openssl x509 -req -in server.csr -CA edgewatch-ca.crt -CAkey edgewatch-ca.key -CAcreateserial \
    -days 825 -extfile san.ext -out server.crt
rm -f server.csr san.ext
chmod 600 edgewatch-ca.key server.key
echo "made $out/edgewatch-ca.crt and $out/server.crt for $san (keep edgewatch-ca.key offline)"
