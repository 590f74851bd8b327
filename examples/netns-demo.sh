#!/usr/bin/env bash
# Site to site with warpcli, on one machine: a hub and two connectors in network namespaces.
#
#   sudo examples/netns-demo.sh                  # build, show it works, tear it all down
#   sudo examples/netns-demo.sh --keep           # leave it running and print commands to poke at it
#   sudo examples/netns-demo.sh --cleanup wcdemo-1234   # remove what a --keep run left
#   sudo WARPCLI=/path/to/warpcli examples/netns-demo.sh   # a warpcli that is not on PATH
#
# Topology (every box is a network namespace named wcdemo-PID-ROLE):
#
#   hosta 10.1.0.10 -- 10.1.0.1 cona 192.0.2.11 --+
#                                                 |  wan (a bridge)  -- 192.0.2.1 hub
#   hostb 10.2.0.10 --+-- 10.2.0.1 conb 192.0.2.12 -+
#   hostb2 10.2.0.20 -+   (br-lan)
#
# hosta and hostb use their connector as default gateway; hostb2 has no default route
# and reaches site A through a static route that `warpcli route add --table local` adds.
# The controller is a SQLite file in a temporary state dir shared by every host; each
# host has its own config dir (its key, connector.toml) and run dir (wireguard-go PIDs).
#
# Needs root, wireguard-go (or the WireGuard kernel module), ip (iproute2) and python3.
# It never touches the root namespace's interfaces, routes, rules or sysctls: all traffic
# stays inside the namespaces. On any exit (error, Ctrl-C, kill) a trap stops, by PID, the
# processes it started (and the wireguard-go and HA responder PIDs warpcli recorded in its run dirs),
# deletes its own namespaces and its temporary directory.
set -euo pipefail

me=netns-demo.sh
die() { echo "$me: $*" >&2; exit 1; }
say() { echo "==> $*"; }

usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
}

KEEP=0
CLEANUP=
while (($#)); do
  case $1 in
    --keep) KEEP=1 ;;
    --cleanup) (($# >= 2)) || die "--cleanup needs the prefix a --keep run printed (wcdemo-PID)"; CLEANUP=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done

[[ $EUID -eq 0 ]] || die "run it as root: it creates network namespaces (sudo $0)"
command -v ip >/dev/null || die "needs ip (apt-get install iproute2)"
command -v python3 >/dev/null || die "needs python3"

BASE=${TMPDIR:-/tmp}
SOCKDIR=/var/run/wireguard
STARTED=()  # PIDs of the processes this script started itself (the TCP servers)

# -- teardown: shared by the trap, the normal end and --cleanup ------------------------
alive() {  # PID: running (a zombie counts as gone)
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != [ZX] ]]
}

stop_pid() {  # PID: TERM, wait (bounded), then KILL
  local pid=$1 i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  echo "$me: warning: process $pid did not exit" >&2
}

recorded_wireguard() {  # WORKDIR: "PID IFNAME" of each wireguard-go warpcli recorded there and still running
  recorded "$1" wireguard
}

recorded() {  # WORKDIR [wireguard]: "PID NAME" of each process warpcli recorded there and still running
  # (wireguard-go by its interface record; the hub's HA responder by its pid file)
  python3 - "$@" <<'EOF'
import json, os, sys
from pathlib import Path
work, only_wg = Path(sys.argv[1]), sys.argv[2:] == ["wireguard"]

def argv_of(pid):
    try:
        return [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []

for f in sorted(work.glob("run-*/**/*.json")):  # run state is per namespace: run-ROLE/netns-INODE/
    try:
        d = json.loads(f.read_text())
        pid, ifname = d["pid"], d["ifname"]
    except (OSError, ValueError, KeyError, TypeError):
        continue  # not an interface record (e.g. the saved sysctls)
    if not isinstance(pid, int):
        continue
    argv = argv_of(pid)  # guard against PID reuse: it must be `wireguard-go IFNAME`
    if argv and os.path.basename(argv[0]).startswith("wireguard-go") and argv[-1] == ifname:
        print(pid, ifname)
if not only_wg:
    for f in sorted(work.glob("run-*/**/hub-agent.pid*")):
        try:
            pid = int(f.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        argv = argv_of(pid)  # it must be the responder of this very directory
        if "warpcli.host.ha.prober" in argv and str(f.parent) in argv:
            print(pid, "ha-responder")
EOF
}

teardown() {  # PREFIX WORKDIR
  local prefix=$1 work=$2 pid ifname ns n
  for pid in ${STARTED[@]+"${STARTED[@]}"}; do
    stop_pid "$pid"
  done
  if [[ -f $work/.wcdemo ]]; then
    while read -r pid ifname; do
      stop_pid "$pid"
    done < <(recorded "$work")
  fi
  n=${prefix#wcdemo-}
  for ifname in "wcd${n}h" "wcd${n}a" "wcd${n}b"; do  # a killed wireguard-go leaves its socket
    rm -f "$SOCKDIR/$ifname.sock"
  done
  for ns in $(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1 {print $1}'); do
    ip netns del "$ns" || echo "$me: warning: could not delete namespace $ns" >&2
  done
  if [[ -f $work/.wcdemo ]]; then
    rm -rf -- "$work"
  fi
}

if [[ -n $CLEANUP ]]; then
  [[ $CLEANUP =~ ^wcdemo-[0-9]+$ ]] || die "--cleanup takes a prefix like wcdemo-1234, not '$CLEANUP'"
  teardown "$CLEANUP" "$BASE/$CLEANUP"
  say "removed $CLEANUP"
  exit 0
fi

WARPCLI=$(command -v "${WARPCLI:-warpcli}") || die "${WARPCLI:-warpcli} not found; set WARPCLI or PATH"
if ! command -v "${WARPCLI_WIREGUARD_GO:-wireguard-go}" >/dev/null && [[ ! -d /sys/module/wireguard ]]; then
  die "needs wireguard-go (apt-get install wireguard-go) or the WireGuard kernel module (modprobe wireguard)"
fi

PREFIX=wcdemo-$$
WORK=$BASE/$PREFIX
DONE=0
on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if ((DONE && KEEP)); then
    exit "$rc"
  fi
  if ((!DONE)); then
    echo "$me: failed (exit $rc); cleaning up" >&2
  fi
  teardown "$PREFIX" "$WORK"
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -m 700 -- "$WORK"  # fails if it exists: never reuse (or follow) someone else's directory
touch "$WORK/.wcdemo"

# -- warpcli as each host ----------------------------------------------------------------
unset WARPCLI_CONTROLLER
export WARPCLI_STATE_DIR=$WORK/state WARPCLI_SECRET_BACKEND=file NO_COLOR=1
declare -A NS
for role in wan hub cona hosta conb hostb hostb2; do
  NS[$role]=$PREFIX-$role
done
WG_HUB=wcd$$h WG_A=wcd$$a WG_B=wcd$$b  # wireguard-go's socket path is machine-wide: unique names

# w ROLE ARGS...: warpcli as host ROLE, inside its namespace (ctl: the controller host, in none)
w() {
  local role=$1
  shift
  if [[ $role == ctl ]]; then
    WARPCLI_CONFIG_DIR=$WORK/config-ctl WARPCLI_RUN_DIR=$WORK/run-ctl "$WARPCLI" "$@"
  else
    WARPCLI_CONFIG_DIR=$WORK/config-$role WARPCLI_RUN_DIR=$WORK/run-$role \
      ip netns exec "${NS[$role]}" "$WARPCLI" "$@"
  fi
}

# -- the topology ------------------------------------------------------------------------
say "namespaces $PREFIX-{wan,hub,cona,hosta,conb,hostb,hostb2}"
for role in "${!NS[@]}"; do
  ip netns add "${NS[$role]}"
  ip -n "${NS[$role]}" link set lo up
done
nsip() { ip -n "${NS[$1]}" "${@:2}"; }  # nsip ROLE ip-args...

nsip wan link add br0 type bridge
nsip wan link set br0 up
for spec in hub:192.0.2.1/24:p1 cona:192.0.2.11/24:p2 conb:192.0.2.12/24:p3; do
  IFS=: read -r role addr port <<<"$spec"
  nsip "$role" link add wan0 type veth peer name "$port" netns "${NS[wan]}"
  nsip "$role" addr add "$addr" dev wan0
  nsip "$role" link set wan0 up
  nsip wan link set "$port" master br0 up
done
# site A: a point-to-point LAN
nsip cona link add lan0 type veth peer name eth0 netns "${NS[hosta]}"
nsip cona addr add 10.1.0.1/24 dev lan0
nsip cona link set lan0 up
nsip hosta addr add 10.1.0.10/24 dev eth0
nsip hosta link set eth0 up
nsip hosta route add default via 10.1.0.1
# site B: a bridged LAN with two hosts
nsip conb link add br-lan type bridge
nsip conb addr add 10.2.0.1/24 dev br-lan
nsip conb link set br-lan up
for spec in hostb:10.2.0.10/24:l1 hostb2:10.2.0.20/24:l2; do
  IFS=: read -r role addr port <<<"$spec"
  nsip conb link add "$port" type veth peer name eth0 netns "${NS[$role]}"
  nsip conb link set "$port" master br-lan up
  nsip "$role" addr add "$addr" dev eth0
  nsip "$role" link set eth0 up
done
nsip hostb route add default via 10.2.0.1

# -- the controller: two tunnels, their routes -------------------------------------------
say "controller: tunnels and routes (state in $WARPCLI_STATE_DIR)"
w ctl tunnel create site-a
w ctl tunnel create site-b
w ctl route add 10.1.0.0/24 --tunnel site-a
w ctl route add 10.2.0.0/24 --tunnel site-b

# -- enroll the connectors, start the hub, bring the connectors up ------------------------
say "connector A: enroll with the tunnel token on stdin"
w ctl tunnel token site-a | w cona enroll --interface "$WG_A"
say "connector B: enroll with --tunnel"
w conb enroll --tunnel site-b --interface "$WG_B"
say "hub: up"
w hub hub up --endpoint 192.0.2.1:51820 --interface "$WG_HUB"
say "connector A: up"
w cona up
say "connector B: up"
w conb up
say "host B2 (no default route): a static route to site A via connector B"
w hostb2 route add 10.1.0.0/24 --table local --via 10.2.0.1

# -- show it works: TCP both ways, the server prints the peer address it saw ----------------
TCP_SERVER='
import socket, sys
host, port = sys.argv[2], int(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(1)
s.settimeout(30)
print("READY", flush=True)
c, addr = s.accept()
c.settimeout(30)
data = c.recv(100)
c.sendall(b"echo:" + data)
print("PEER", addr[0], flush=True)
'
TCP_CLIENT='
import socket, sys
host, port = sys.argv[2], int(sys.argv[3])
c = socket.create_connection((host, port), timeout=20)
c.sendall(sys.argv[4].encode())
print(c.recv(100).decode(), flush=True)
'

# tcp_check LABEL SERVER_ROLE CLIENT_ROLE HOST PORT EXPECTED_PEER
tcp_check() {
  local label=$1 server=$2 client=$3 host=$4 port=$5 expect=$6
  local fifo=$WORK/tcp-$port.out fd line pid reply peer
  mkfifo "$fifo"
  # the prefix in argv marks the process as this demo's
  ip netns exec "${NS[$server]}" python3 -u -c "$TCP_SERVER" "$PREFIX" "$host" "$port" \
    >"$fifo" 2>"$WORK/tcp-$port.err" &
  pid=$!
  STARTED+=("$pid")
  exec {fd}<"$fifo"
  if ! read -r -t 30 -u "$fd" line || [[ $line != READY ]]; then
    die "the TCP server in $server did not start: $(cat "$WORK/tcp-$port.err")"
  fi
  reply=$(ip netns exec "${NS[$client]}" python3 -c "$TCP_CLIENT" "$PREFIX" "$host" "$port" "hello") \
    || die "$label: no TCP connection from $client to $host:$port"
  read -r -t 30 -u "$fd" line || die "$label: the server in $server said nothing: $(cat "$WORK/tcp-$port.err")"
  exec {fd}<&-
  wait "$pid" || die "$label: the server in $server failed: $(cat "$WORK/tcp-$port.err")"
  peer=${line#PEER }
  [[ $reply == echo:hello ]] || die "$label: unexpected reply '$reply'"
  echo "$label: $host:$port saw the connection come from $peer"
  [[ $peer == "$expect" ]] || die "$label: expected the true source $expect, the server saw $peer (NAT?)"
}

say "TCP through the tunnels"
tcp_check "site A -> site B" hostb hosta 10.2.0.10 8080 10.1.0.10
tcp_check "site B -> site A" hosta hostb 10.1.0.10 8081 10.2.0.10
tcp_check "site B2 -> site A" hosta hostb2 10.1.0.10 8082 10.2.0.20

say "connector A: status"
w cona status

# the processes warpcli started for the demo (stopped by `down`, or by the trap);
# none with the kernel's WireGuard module, which warpcli prefers when it is there
while read -r pid ifname; do
  echo "wireguard-go $ifname: pid $pid"
done < <(recorded_wireguard "$WORK")

if ((KEEP)); then
  DONE=1
  env_of() {  # ROLE: the environment that makes warpcli act as that host
    echo "WARPCLI_STATE_DIR=$WARPCLI_STATE_DIR WARPCLI_CONFIG_DIR=$WORK/config-$1" \
      "WARPCLI_RUN_DIR=$WORK/run-$1 WARPCLI_SECRET_BACKEND=file"
  }
  cat <<EOF

The demo keeps running ($PREFIX). Poke at it:
  ip netns exec ${NS[hosta]} ping -c 3 10.2.0.10
  ip netns exec ${NS[hostb2]} ping -c 3 10.1.0.10
  ip netns exec ${NS[cona]} env $(env_of cona) $WARPCLI status
  ip netns exec ${NS[hub]} env $(env_of hub) $WARPCLI hub up --endpoint 192.0.2.1:51820 --interface $WG_HUB --dry-run
  ip -n ${NS[conb]} route show table all proto 245; ip -n ${NS[conb]} rule
  env $(env_of ctl) $WARPCLI routes
Remove it:
  $0 --cleanup $PREFIX
EOF
  exit 0
fi

# -- tear down: warpcli removes what it installed, then the namespaces go -------------------
say "connector A: down"
w cona down
say "connector B: down"
w conb down
say "hub: down"
w hub hub down --interface "$WG_HUB"
left=$(recorded "$WORK")
[[ -z $left ]] || die "still running after down: $left"
DONE=1
teardown "$PREFIX" "$WORK"
trap - EXIT
say "done: namespaces $PREFIX-* and $WORK removed"
