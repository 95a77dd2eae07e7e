# The set-up the package tests do in a root where the packages are
# installed (sourced by their scripts inside the root; they define say,
# fail and mode). operator_setup: the operator's set-up of
# docs/operations.md 2.4 — the chain root, the broker's key, COA's key and
# its root-signed entry installed with `keten admin --config`, the metrics
# endpoint on loopback, `ketend --check-config`. adapter_setup [ENDPOINT]:
# COA's adapter configuration (docs/integrators.md 3), by default on
# ipc:///run/keten/ketend.sock (which only keten and root may connect to
# under the unit's UMask=0077: an adapter run by its unit, as the user
# keten-adapter, is given tcp://127.0.0.1:7600).

operator_setup() {
  install -d -m 0700 /root/offline /root/coa
  keten root keygen --out /root/offline >/dev/null
  install -m 0644 /root/offline/root.pub /etc/keten/root.pub
  keten keygen --id broker --out /etc/keten >/dev/null
  chown keten:keten /etc/keten/broker.key
  keten keygen --id coa --out /root/coa >/dev/null
  keten root entry --id coa --role COA --name "COA" --keys /root/coa/coa.pub \
    --out /root/offline/coa.entry >/dev/null
  keten root sign --root-key /root/offline/root.key /root/offline/coa.entry >/dev/null
  install -m 0644 /root/offline/coa.signed /tmp/coa.signed
  runuser -u keten -- keten admin participant add --config /etc/keten/ketend.conf \
    --entry /tmp/coa.signed >/dev/null || fail "keten admin participant add --config"
  [ "$(mode /var/lib/keten/keten.db)" = "keten:keten 600" ] || fail "the store is $(mode /var/lib/keten/keten.db)"
  # the operator's edit of the conffile: health and metrics on loopback
  sed -i 's/^#metrics_endpoint = .*/metrics_endpoint = 127.0.0.1:9464/' /etc/keten/ketend.conf
  grep -qx 'metrics_endpoint = 127.0.0.1:9464' /etc/keten/ketend.conf || fail "could not set metrics_endpoint"
  runuser -u keten -- ketend --config /etc/keten/ketend.conf --check-config >/dev/null ||
    fail "ketend --check-config refuses the packaged configuration"
}

adapter_setup() {
  local endpoint="${1:-ipc:///run/keten/ketend.sock}"
  keten chainkey --out /etc/keten-adapter/chain.key >/dev/null
  install -m 0600 /root/coa/coa.key /etc/keten-adapter/coa.key
  install -m 0644 /etc/keten/broker.pub /etc/keten/root.pub /etc/keten-adapter/
  chown keten-adapter:keten-adapter /etc/keten-adapter/coa.key /etc/keten-adapter/chain.key
  install -d -m 0750 -o keten-adapter -g keten-adapter /var/lib/keten-adapter/coa
  cat >/etc/keten-adapter/adapter-coa.conf <<CONF
endpoint = $endpoint
key = /etc/keten-adapter/coa.key
broker_key = /etc/keten-adapter/broker.pub
root_key = /etc/keten-adapter/root.pub
chain_key = /etc/keten-adapter/chain.key
outbox = /var/lib/keten-adapter/coa/outbox
inbox = /var/lib/keten-adapter/coa/inbox
CONF
}
