#!/usr/bin/env bash
# demo.sh — two hosts, two containers, one VXLAN network, on one machine.
#
#   c1 (10.0.1.2) ─TAP─ vxswitch on h1 (192.0.2.1) ══veth══ (192.0.2.2) h2 on vxswitch ─TAP─ c2 (10.0.1.3)
#
# Every host and container is a network namespace this script creates; the
# underlay is a veth pair between h1 and h2 in 192.0.2.0/24 (TEST-NET-1).
# Nothing is added to the root namespace, no namespace gets a default route,
# and every packet stays between the namespaces made here. Everything created
# is named with a per-run prefix and removed on exit, also on failure or ^C.
#
# Usage: scripts/demo.sh PATH/TO/vxswitch     (as root; `make demo` does this)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root_and_binary demo "$@"

# OpenBSD netcat has -N (shut down the socket after EOF on stdin).
NC=nc
command -v nc.openbsd >/dev/null 2>&1 && NC=nc.openbsd
for cmd in ip ping "$NC" ss sha256sum timeout head realpath; do
	if ! command -v "$cmd" >/dev/null 2>&1; then
		echo "$0: $cmd not found; run 'make deps-demo' (installs iproute2, iputils-ping, netcat-openbsd)" >&2
		exit 1
	fi
done

PREFIX="vxd$$"                          # unique per run; ≤ 15 bytes with the suffixes below
NS_H1=$PREFIX-h1 NS_H2=$PREFIX-h2       # hosts
NS_C1=$PREFIX-c1 NS_C2=$PREFIX-c2       # containers
VETH1=$PREFIX-u1 VETH2=$PREFIX-u2       # underlay link h1 <-> h2
UL1=192.0.2.1 UL2=192.0.2.2
MAC1=02:00:0a:00:01:02 MAC2=02:00:0a:00:01:03
IP1=10.0.1.2 IP2=10.0.1.3
VNI=4097
TCP_PORT=5001
SIZE_MB=10

DIR=$(mktemp -d "/tmp/$PREFIX.XXXXXX")
CREATED_NS=()
PID_H1='' PID_H2='' PID_NC=''


show_logs() {
	local f
	for f in "$DIR"/h1.log "$DIR"/h2.log; do
		[[ -s $f ]] || continue
		printf '\n----- %s -----\n' "$(basename "$f")"
		cat "$f"
	done
}

die() {
	local pid
	printf '\nDEMO FAILED: %s\n' "$*" >&2
	# Tables and counters (drops by reason) from the switches still running.
	for pid in $PID_H1 $PID_H2; do
		kill -USR1 "$pid" 2>/dev/null || true
	done
	sleep 0.5
	show_logs >&2
	exit 1
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	stop "$PID_NC"
	stop "$PID_H1"
	stop "$PID_H2"
	delete_created_ns
	rm -rf "$DIR"
	exit "$rc"
}
on_exit cleanup

# ---------------------------------------------------------------- topology

say "Creating namespaces (prefix $PREFIX): hosts $NS_H1, $NS_H2; containers $NS_C1, $NS_C2"
for ns in "$NS_H1" "$NS_H2" "$NS_C1" "$NS_C2"; do
	ip netns add "$ns"
	CREATED_NS+=("$ns")
	ip -n "$ns" link set lo up
done

say "Underlay: veth $VETH1 ($UL1/24, in $NS_H1) <-> $VETH2 ($UL2/24, in $NS_H2)"
ip link add "$VETH1" netns "$NS_H1" type veth peer name "$VETH2" netns "$NS_H2"
ip -n "$NS_H1" addr add "$UL1/24" dev "$VETH1"
ip -n "$NS_H2" addr add "$UL2/24" dev "$VETH2"
ip -n "$NS_H1" link set "$VETH1" up
ip -n "$NS_H2" link set "$VETH2" up

# ------------------------------------------------------------------ config

# write_config FILE LOCAL REMOTE CONTAINER_NS MAC ADDR ADMIN_SOCKET
write_config() {
	cat >"$1" <<EOF
# vxswitch demo: host with underlay $2, one container in $4.
underlay:
  local: $2
  port: 4789
networks:
  - name: blue
    vni: $VNI
    flood: [$3]
ports:
  - name: ${4##*-}-eth1
    network: blue
    netns: /run/netns/$4
    ifname: eth1
    mac: "$5"
    addresses: [$6/24]
admin:
  socket: $7    # each switch on this machine needs its own
log:
  level: info
EOF
}
write_config "$DIR/h1.yaml" "$UL1" "$UL2" "$NS_C1" "$MAC1" "$IP1" "$DIR/h1.sock"
write_config "$DIR/h2.yaml" "$UL2" "$UL1" "$NS_C2" "$MAC2" "$IP2" "$DIR/h2.sock"

say "Configuration for h1 ($DIR/h1.yaml); h2's is the mirror image"
cat "$DIR/h1.yaml"

say "Validating both configurations"
"$BIN" validate -c "$DIR/h1.yaml"
"$BIN" validate -c "$DIR/h2.yaml"

# ------------------------------------------------------------------- start

# wait_port PID LOG NS: wait until eth1 is in NS with its address and the
# switch says it runs; fail if the process dies first.
wait_port() {
	local pid=$1 log=$2 ns=$3 i rc
	for ((i = 0; i < 100; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" && rc=0 || rc=$?
			die "vxswitch (pid $pid) exited with status $rc before eth1 appeared in $ns"
		fi
		if ip -n "$ns" -4 addr show dev eth1 2>/dev/null | grep -q 'inet ' &&
			grep -q 'vxswitch running' "$log"; then
			return 0
		fi
		sleep 0.1
	done
	die "eth1 did not appear in $ns within 10 s"
}

say "Starting vxswitch in $NS_H1 (log: h1.log)"
ip netns exec "$NS_H1" "$BIN" run -c "$DIR/h1.yaml" 2>"$DIR/h1.log" &
PID_H1=$!
say "Starting vxswitch in $NS_H2 (log: h2.log)"
ip netns exec "$NS_H2" "$BIN" run -c "$DIR/h2.yaml" 2>"$DIR/h2.log" &
PID_H2=$!
echo "pids: h1 $PID_H1, h2 $PID_H2"

say "Waiting for the TAP ports to appear as eth1 in $NS_C1 and $NS_C2"
wait_port "$PID_H1" "$DIR/h1.log" "$NS_C1"
wait_port "$PID_H2" "$DIR/h2.log" "$NS_C2"
ip -n "$NS_C1" addr show dev eth1
ip -n "$NS_C2" addr show dev eth1

# ----------------------------------------------------------------- traffic

say "ping from $NS_C1 ($IP1) to $NS_C2 ($IP2) across the overlay"
if ! ip netns exec "$NS_C1" ping -c 3 -i 0.5 -W 2 "$IP2" | tee "$DIR/ping.out"; then
	die "ping $IP2 from $NS_C1 failed"
fi
grep -q ' 0% packet loss' "$DIR/ping.out" || die "ping lost packets"

say "TCP: sending $SIZE_MB MB of random data from $NS_C1 to nc listening on $IP2:$TCP_PORT in $NS_C2"
head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$DIR/send.bin"
ip netns exec "$NS_C2" timeout 60 "$NC" -l "$IP2" "$TCP_PORT" >"$DIR/recv.bin" </dev/null &
PID_NC=$!
for ((i = 0; i < 50; i++)); do
	ip netns exec "$NS_C2" ss -Hltn "sport = :$TCP_PORT" | grep -q . && break
	kill -0 "$PID_NC" 2>/dev/null || die "nc -l in $NS_C2 exited early"
	sleep 0.1
done
start=$(date +%s.%N)
ip netns exec "$NS_C1" timeout 60 "$NC" -N -w 10 "$IP2" "$TCP_PORT" <"$DIR/send.bin" ||
	die "sender nc in $NS_C1 failed"
wait "$PID_NC" || die "receiver nc in $NS_C2 failed"
PID_NC=
end=$(date +%s.%N)
sent=$(sha256sum <"$DIR/send.bin" | cut -d' ' -f1)
got=$(sha256sum <"$DIR/recv.bin" | cut -d' ' -f1)
echo "sent     $sent  ($(stat -c %s "$DIR/send.bin") bytes)"
echo "received $got  ($(stat -c %s "$DIR/recv.bin") bytes)"
[[ $sent == "$got" ]] || die "checksums differ"
echo "TCP transfer OK: $SIZE_MB MB, checksums match ($(awk -v s="$start" -v e="$end" -v mb="$SIZE_MB" \
	'BEGIN { printf "%.2f s, %.1f Mbit/s", e - s, mb * 8 * 1.048576 / (e - s) }'))"

# ------------------------------------------------------------------ tables

# tables NAME PID LOG: SIGUSR1, then print what the switch wrote after it
# (waiting up to 5 s for the counters, which come last).
tables() {
	local name=$1 pid=$2 log=$3 size i
	size=$(stat -c %s "$log")
	kill -USR1 "$pid"
	for ((i = 0; i < 50; i++)); do
		sleep 0.1
		tail -c +$((size + 1)) "$log" | grep -q '^(no network)' && break
	done
	say "SIGUSR1 to vxswitch on $name (pid $pid): MAC table, neighbors, counters"
	tail -c +$((size + 1)) "$log" | tee "$DIR/$name.tables"
}
tables h1 "$PID_H1" "$DIR/h1.log"
tables h2 "$PID_H2" "$DIR/h2.log"

# The remote container's MAC is learned behind the other VTEP; the local one
# sits on the local port.
grep -Eq "$MAC2.*$UL2" "$DIR/h1.tables" || die "h1's FDB does not show $MAC2 behind $UL2"
grep -Eq "$MAC1.*c1-eth1" "$DIR/h1.tables" || die "h1's FDB does not show $MAC1 on port c1-eth1"
grep -Eq "$MAC1.*$UL1" "$DIR/h2.tables" || die "h2's FDB does not show $MAC1 behind $UL1"
grep -Eq "$MAC2.*c2-eth1" "$DIR/h2.tables" || die "h2's FDB does not show $MAC2 on port c2-eth1"
echo
echo "FDB OK: h1 has $MAC2 behind $UL2 and $MAC1 on c1-eth1; h2 the mirror image"

say "The same through h1's admin socket: vxswitch fdb, peers and stats"
"$BIN" fdb --socket "$DIR/h1.sock" || die "vxswitch fdb failed"
echo
"$BIN" peers --socket "$DIR/h1.sock" || die "vxswitch peers failed"
echo
"$BIN" stats --socket "$DIR/h1.sock" || die "vxswitch stats failed"

say "h2's ports: the TAP the transfer went into, with the merged writes its offloads made"
"$BIN" ports --socket "$DIR/h2.sock" || die "vxswitch ports failed"

# ---------------------------------------------------------------- teardown

# stop_switch NAME PID LOG NS: SIGTERM, check the exit status, show the final
# counters and check the TAP left the container.
stop_switch() {
	local name=$1 pid=$2 log=$3 ns=$4 rc i
	say "SIGTERM to vxswitch on $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true # if it is gone already, wait tells how it ended
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && die "vxswitch on $name still running 10 s after SIGTERM"
	wait "$pid" && rc=0 || rc=$?
	[[ $rc -eq 0 ]] || die "vxswitch on $name exited with status $rc"
	echo "exited with status 0; final counters:"
	sed -n '/shutting down/,$p' "$log" | tail -n +2
	if ip -n "$ns" link show eth1 >/dev/null 2>&1; then
		die "eth1 still exists in $ns after vxswitch exited"
	fi
	echo "eth1 is gone from $ns"
}
stop_switch h1 "$PID_H1" "$DIR/h1.log" "$NS_C1"
PID_H1=
stop_switch h2 "$PID_H2" "$DIR/h2.log" "$NS_C2"
PID_H2=

say "Deleting namespaces ${CREATED_NS[*]}"
for ns in "${CREATED_NS[@]}"; do
	ip netns del "$ns"
done
CREATED_NS=()
for ns in "$NS_H1" "$NS_H2" "$NS_C1" "$NS_C2"; do
	[[ ! -e /run/netns/$ns ]] || die "namespace $ns still exists"
done

say "DEMO PASSED: ping, $SIZE_MB MB TCP transfer with matching checksums, FDB learned, TAPs removed on SIGTERM"
