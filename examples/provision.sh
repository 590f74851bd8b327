#!/usr/bin/env bash
# Provision two sites and a staging copy with warpcli, safely re-runnable.
#
#   examples/provision.sh                              # uses warpcli's default state dir
#   WARPCLI_STATE_DIR=/tmp/demo examples/provision.sh  # or any state dir (warpcli reads the variable)
#   WARPCLI=/path/to/warpcli examples/provision.sh     # a warpcli that is not on PATH
#
# Every create uses --if-not-exists and --json, so a second run changes nothing and
# prints the same summary. The script then checks the overlap report against the
# overlaps it intends and fails (exit 1) on any other: a guard for route tables that
# grow by hand. Needs bash and jq.
set -euo pipefail

WARPCLI=${WARPCLI:-warpcli}
command -v jq >/dev/null || { echo "provision.sh: jq is required (apt-get install jq)" >&2; exit 1; }
command -v "$WARPCLI" >/dev/null || { echo "provision.sh: $WARPCLI not found; set WARPCLI or PATH" >&2; exit 1; }

w() { "$WARPCLI" "$@"; }

# -- tunnels and the virtual network: capture the ids from the JSON -----------------
office=$(w tunnel create office --if-not-exists --json | jq -r .id)
lab=$(w tunnel create lab --if-not-exists --json | jq -r .id)
staging=$(w vnet add staging --comment "lab copy of prod" --if-not-exists --json | jq -r .id)

# -- routes ---------------------------------------------------------------------------
# route NETWORK TUNNEL_ID [more route-add options]; prints "NETWORK -> TUNNEL (VNET)"
route() {
  local network=$1 tunnel=$2
  shift 2
  w route add "$network" --tunnel "$tunnel" "$@" --if-not-exists --json \
    | jq -r '"  \(.network) -> \(.tunnel_name) (\(.virtual_network_name))"'
}

echo "routes:"
route 10.0.0.0/24 "$office" --comment "office LAN"
route 10.0.0.0/16 "$lab" --comment "whole lab"                          # 10.0.0.0/24 nests inside it
route 2001:db8:10::/48 "$office" --comment "office IPv6"
route 10.0.0.0/24 "$lab" --vnet "$staging" --comment "staging copy of the office LAN"  # same CIDR, other vnet
route 10.20.0.0/16 "$lab" --vnet "$staging"

# -- overlaps: exactly the intended ones ----------------------------------------------
expected='[
  "nested in default: 10.0.0.0/24 inside 10.0.0.0/16",
  "shared: 10.0.0.0/24 in default, staging"
]'
found=$(w routes --overlaps --json | jq -c '
  [ (.nested[] | .virtual_network_name as $v | .inner[]
       | "nested in \($v): \(.network) inside \(.parent_network)"),
    (.shared[] | "shared: \(.network) in \([.routes[].virtual_network_name] | sort | join(", "))") ]')
echo "overlaps:"
jq -r '.[] | "  " + .' <<<"$found"
unexpected=$(jq -r --argjson want "$expected" '(. - $want)[]' <<<"$found")
missing=$(jq -nr --argjson want "$expected" --argjson got "$found" '($want - $got)[]')
if [[ -n $unexpected || -n $missing ]]; then
  [[ -z $unexpected ]] || sed 's/^/provision.sh: unexpected overlap: /' <<<"$unexpected" >&2
  [[ -z $missing ]] || sed 's/^/provision.sh: expected overlap missing: /' <<<"$missing" >&2
  exit 1
fi

# -- summary --------------------------------------------------------------------------
echo "summary:"
echo "  state dir: $(w config show --json | jq -r .state_dir)"
echo "  tunnels:   $(w tunnel list --json | jq -r 'map(.name) | join(", ")')"
echo "  vnets:     $(w vnet list --json | jq -r 'map(.name + (if .is_default_network then " (default)" else "" end)) | join(", ")')"
w routes --json | jq -r 'group_by(.virtual_network_name)[]
  | "  routes in \(.[0].virtual_network_name): \(length) (\(map(.network) | join(", ")))"'
echo "  10.0.0.7 goes via: $(w route get 10.0.0.7 --json | jq -r .route.tunnel_name) (default), $(w route get 10.0.0.7 --vnet "$staging" --json | jq -r .route.tunnel_name) (staging)"
