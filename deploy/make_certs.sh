#!/usr/bin/env bash
# Makes the certificates Tether's TLS uses, with openssl: a CA, tetherd's
# serving certificate, the agents' certificate and a client certificate.
#
#   deploy/make_certs.sh DIR [SAN...]
#
# DIR gets ca.crt (give it to every client and agent), ca.key (keep it
# offline), tetherd.crt/.key, agent.crt/.key and client.crt/.key. tetherd's
# certificate names localhost, 127.0.0.1, the in-cluster Service
# (tetherd.tether-system.svc[.cluster.local]) and each extra SAN given
# ("DNS:tether.example.com", "IP:10.0.0.5"). Agents are dialled by pod IP,
# so their one certificate names "tether-agent" (tetherd's
# --agent_tls_server_name) instead. When DIR already holds a CA, it signs
# new certificates with it: running this again rotates the leaves, and
# tetherd and the agents pick them up without a restart.
#
# In a cluster, cert-manager does the same (deploy/cert-manager/tls.yaml).
set -euo pipefail

dir="${1:?usage: make_certs.sh DIR [SAN...]}"
shift
mkdir -p "$dir"
cd "$dir"
umask 077

if [ ! -f ca.key ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout ca.key -out ca.crt -days 3650 -subj /CN=tether-ca \
    -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
fi

# issue NAME CN EXTENDED_KEY_USAGE SAN
issue() {
  local name="$1" cn="$2" usage="$3" san="$4"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$name.key.new" -out "$name.csr" -subj "/CN=$cn" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -z "$san" ] || echo "subjectAltName=$san"
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key \
    -set_serial "0x$(openssl rand -hex 8)" -days 365 -extfile "$name.ext" \
    -out "$name.crt.new" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
  # Key first, then certificate, each renamed whole: a reader polling the
  # pair sees a mismatch for a moment at most, never a torn file.
  mv "$name.key.new" "$name.key"
  mv "$name.crt.new" "$name.crt"
}

sans="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:tetherd.tether-system.svc"
sans="$sans,DNS:tetherd.tether-system.svc.cluster.local"
for extra in "$@"; do sans="$sans,$extra"; done

# tetherd and the agents are also clients (of each other), so both usages.
issue tetherd tetherd serverAuth,clientAuth "$sans"
issue agent tether-agent serverAuth,clientAuth "DNS:tether-agent"
issue client "${USER:-tether-user}" clientAuth ""
chmod 644 ca.crt tetherd.crt agent.crt client.crt
echo "make_certs: wrote $(pwd)/{ca,tetherd,agent,client}.{crt,key}"
