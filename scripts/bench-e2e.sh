#!/usr/bin/env bash
# bench-e2e.sh — the same two-host overlay built twice, measured back to back:
#
#   kernel:   c1 ─veth─ br0+vxlan(4097) on h1 ══veth══ h2 br0+vxlan ─veth─ c2
#   vxswitch: c1 ─TAP── vxswitch on h1      ══veth══ h2 vxswitch    ─TAP── c2
#
# Underlay 192.0.2.1/2 (TEST-NET-1) on a veth pair between h1 and h2; overlay
# 10.0.1.2 (c1) and 10.0.1.3 (c2), MTU 1450 on both. Against each: iperf3 TCP
# with 1 and 4 streams, iperf3 UDP with 64-byte payloads at full rate and
# then, for both, at the rate the kernel received at full rate (the same
# offered load), and 1000 pings c1 → c2, 1 ms apart and then back to back
# (ping -A); for vxswitch also the CPU time and peak RSS of both switches,
# and per test the packets the kernel dropped around them (TAP
# queues, underlay socket buffers). Then, with the throughput switches
# stopped, the MAC table: a fresh vxswitch pair per run, and from h2's
# namespace FDB_MACS (100,000) VXLAN datagrams to h1's switch, each from its
# own inner source MAC (internal/tools/fdbfill), all resent slower while any
# are missing; h1's table size read back through its admin socket, its VmRSS
# before and after and its VmHWM. One markdown table at the end, also
# written to $OUT.
#
# Every host and container is a network namespace this script creates, named
# with a per-run prefix (kernel and vxswitch topologies apart); nothing is
# added to the root namespace and no namespace has a default route, so every
# packet stays between them. All of it is removed on exit, also on failure
# or ^C; only processes started here are signalled.
#
# Usage: scripts/bench-e2e.sh PATH/TO/vxswitch     (as root; `make bench-e2e`)
# Environment: RUNS=N (default 1) repeats both suites and the MAC table fill
#   N times and reports the median of each metric; DURATION (s, default 10)
#   per iperf3 test; PINGS (default 1000); FDB_MACS (default 100000; 0 skips
#   the MAC table phase); FDBFILL, the fdbfill binary (default: fdbfill
#   beside vxswitch; `make bench-e2e` builds it); OUT (default
#   bench-e2e-results.md); VXSWITCH_ARGS, extra options for `vxswitch run`
#   (e.g. --log-level warn); HOST_CPUS="A B" (default: unset, the scheduler
#   places everything) pins each simulated host to its own CPUs, for both
#   flavors alike: with taskset, h1's vxswitch and everything run in c1
#   (iperf3 client, ping) on CPU list A, h2's vxswitch and c2's iperf3
#   server on B. Two real hosts do not share CPUs; on one small machine the
#   scheduler may put both hosts' work on one CPU, and each wake-up that
#   crosses CPUs costs the user-space path more than the kernel's.
#   VXSWITCH_NICE=N runs both switches at nice value N (the kernel's
#   datapath has no process to renice).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root_and_binary bench-e2e "$@"
for cmd in ip ping iperf3 jq ss awk sort timeout realpath getconf; do
	if ! command -v "$cmd" >/dev/null 2>&1; then
		echo "$0: $cmd not found; run 'make deps-bench' (installs iproute2, iputils-ping, iperf3, jq)" >&2
		exit 1
	fi
done

VXSWITCH_ARGS=${VXSWITCH_ARGS:-}
RUNS=${RUNS:-1} DURATION=${DURATION:-10} PINGS=${PINGS:-1000} OUT=${OUT:-bench-e2e-results.md}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "$0: RUNS=$RUNS: want a positive integer" >&2; exit 2; }
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || { echo "$0: DURATION=$DURATION: want whole seconds" >&2; exit 2; }
[[ $PINGS =~ ^[1-9][0-9]*$ ]] || { echo "$0: PINGS=$PINGS: want a positive integer" >&2; exit 2; }
# PIN1, PIN2: the command prefix that puts a process on host 1's or 2's
# CPUs (taskset -c LIST) with HOST_CPUS, else nothing. A prefix, not a
# function: a function run in the background would be a subshell, and $!
# its PID instead of the switch's.
PIN1=() PIN2=() HOST_CPU=()
if [[ -n ${HOST_CPUS:-} ]]; then
	read -r -a HOST_CPU <<<"$HOST_CPUS"
	command -v taskset >/dev/null 2>&1 ||
		{ echo "$0: HOST_CPUS needs taskset; install util-linux (apt-get install -y util-linux)" >&2; exit 1; }
	for n in 0 1; do
		if ((${#HOST_CPU[@]} != 2)) || [[ ! ${HOST_CPU[n]} =~ ^[0-9][0-9,-]*$ ]]; then
			echo "$0: HOST_CPUS=\"$HOST_CPUS\": want two taskset CPU lists, h1's and h2's, e.g. \"0 1\"" >&2
			exit 2
		fi
		taskset -c "${HOST_CPU[n]}" true 2>/dev/null ||
			{ echo "$0: HOST_CPUS: host $((n + 1))'s CPU list ${HOST_CPU[n]} is not usable here ($(nproc) CPUs)" >&2; exit 2; }
	done
	PIN1=(taskset -c "${HOST_CPU[0]}") PIN2=(taskset -c "${HOST_CPU[1]}")
fi
# NICE: the prefix that runs each vxswitch at VXSWITCH_NICE, if set.
NICE=()
if [[ -n ${VXSWITCH_NICE:-} ]]; then
	if [[ ! $VXSWITCH_NICE =~ ^-?[0-9]+$ ]] || ((VXSWITCH_NICE < -20 || VXSWITCH_NICE > 19)); then
		echo "$0: VXSWITCH_NICE=$VXSWITCH_NICE: want a nice value, -20 to 19" >&2
		exit 2
	fi
	NICE=(nice -n "$VXSWITCH_NICE")
fi
FDB_MACS=${FDB_MACS:-100000}
if [[ ! $FDB_MACS =~ ^(0|[1-9][0-9]*)$ ]] || ((FDB_MACS > 900000)); then
	echo "$0: FDB_MACS=$FDB_MACS: want 0 (no MAC table phase) to 900000" >&2
	exit 2
fi
if ((FDB_MACS > 0)); then
	FDBFILL=${FDBFILL:-$(dirname "$BIN")/fdbfill}
	if [[ ! -x $FDBFILL ]]; then
		echo "$0: $FDBFILL: not found; the MAC table phase sends its datagrams with it." \
			"Build it with 'go build -o $FDBFILL ./internal/tools/fdbfill' (make bench-e2e does)," \
			"or point FDBFILL at it, or set FDB_MACS=0 to skip the phase" >&2
		exit 1
	fi
	FDBFILL=$(realpath "$FDBFILL")
	if [[ $("$BIN" help run 2>&1) != *-admin-socket* ]]; then
		echo "$0: $BIN has no --admin-socket, which the MAC table phase reads the table through;" \
			"set FDB_MACS=0 to skip the phase" >&2
		exit 1
	fi
fi

PREFIX="vxb$$" # unique per run; interface names below stay ≤ 15 bytes
UL1=192.0.2.1 UL2=192.0.2.2
MAC1=02:00:0a:00:01:02 MAC2=02:00:0a:00:01:03
IP1=10.0.1.2 IP2=10.0.1.3
VNI=4097
MTU=1450 # underlay 1500 − 50, what both the kernel and vxswitch pick
IPERF_PORT=5201
TICKS=$(getconf CLK_TCK)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

DIR=$(mktemp -d "/tmp/$PREFIX.XXXXXX")
CREATED_NS=()
PIDS=()                  # every background process started here
PID_V1='' PID_V2=''      # the two vxswitch processes
DROPS0=""                # snap before the current test
FAILED=()                # "flavor test: why" for tests that produced no number

die() {
	printf '\nBENCH FAILED: %s\n' "$*" >&2
	local f
	for f in "$DIR"/v-h*.log; do
		[[ -s $f ]] && { printf -- '----- %s -----\n' "$(basename "$f")"; tail -n 40 "$f"; } >&2
	done
	exit 1
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	set +e
	for pid in "${PIDS[@]}"; do
		stop "$pid"
	done
	delete_created_ns
	rm -rf "$DIR"
	exit "$rc"
}
on_exit cleanup

# forget PID: drop a process that has exited and been waited for from PIDS,
# so that cleanup cannot signal whatever gets its number later.
forget() {
	local p keep=()
	for p in "${PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# ---------------------------------------------------------------- topology

# ns FLAVOR ROLE: the namespace name, e.g. vxb123-k-h1.
ns() { echo "$PREFIX-$1-$2"; }

# hosts FLAVOR: four namespaces and the underlay veth between h1 and h2.
hosts() {
	local f=$1 n
	for n in h1 h2 c1 c2; do
		ip netns add "$(ns "$f" "$n")"
		CREATED_NS+=("$(ns "$f" "$n")")
		ip -n "$(ns "$f" "$n")" link set lo up
	done
	ip -n "$(ns "$f" h1)" link add "${PREFIX}${f}u1" type veth peer name "${PREFIX}${f}u2" netns "$(ns "$f" h2)"
	ip -n "$(ns "$f" h1)" addr add "$UL1/24" dev "${PREFIX}${f}u1"
	ip -n "$(ns "$f" h2)" addr add "$UL2/24" dev "${PREFIX}${f}u2"
	ip -n "$(ns "$f" h1)" link set "${PREFIX}${f}u1" up
	ip -n "$(ns "$f" h2)" link set "${PREFIX}${f}u2" up
}

# kernel_host N LOCAL REMOTE MAC IP: Docker-overlay style on host N: bridge,
# learning vxlan device and a veth into container N, MTU 1450 throughout.
kernel_host() {
	local n=$1 local_ip=$2 remote_ip=$3 mac=$4 ip=$5
	local h c br=${PREFIX}kbr vx=${PREFIX}kvx p=${PREFIX}kp
	h=$(ns k "h$n") c=$(ns k "c$n")
	ip -n "$h" link add "$br" type bridge
	ip -n "$h" link add "$vx" type vxlan id "$VNI" dstport 4789 local "$local_ip" remote "$remote_ip" \
		dev "${PREFIX}ku$n" learning
	ip -n "$h" link set "$vx" mtu "$MTU" master "$br"
	ip -n "$h" link add "$p" mtu "$MTU" type veth peer name eth1 netns "$c"
	ip -n "$h" link set "$p" master "$br"
	ip -n "$c" link set eth1 mtu "$MTU" address "$mac"
	ip -n "$c" addr add "$ip/24" dev eth1
	ip -n "$c" link set eth1 up
	ip -n "$h" link set "$p" up
	ip -n "$h" link set "$vx" up
	ip -n "$h" link set "$br" up
}

# vxswitch_config FILE LOCAL REMOTE CONTAINER_NS MAC ADDR [SETTING...]:
# each SETTING ("key: value") is added to the network.
vxswitch_config() {
	local s extra=""
	for s in "${@:7}"; do
		extra+=$'\n'"    $s"
	done
	cat >"$1" <<EOF
# vxswitch benchmark: host with underlay $2, one container in $4.
underlay:
  local: $2
  port: 4789
  mtu: 1500
networks:
  - name: bench
    vni: $VNI
    flood: [$3]$extra
ports:
  - name: ${4##*-}-eth1
    network: bench
    netns: /run/netns/$4
    ifname: eth1
    mac: "$5"
    addresses: [$6/24]
log:
  level: info
EOF
	"$BIN" validate -c "$1" >/dev/null
}

# start_vxswitch N [TAG]: vxswitch on host N with config $DIR/v-hN[TAG].yaml,
# log and admin socket beside it; sets PID_VN. Two switches share this
# machine's file system, so each gets its own admin socket (in builds that
# have one).
start_vxswitch() {
	local n=$1 base=$DIR/v-h$1${2:-} pid i rc admin=()
	# Not `| grep -q`: with pipefail, grep quitting early fails the pipe.
	if [[ $("$BIN" help run 2>&1) == *-admin-socket* ]]; then
		admin=(--admin-socket "$base.sock")
	fi
	local -n pin=PIN$n # host n's taskset prefix, if any
	# shellcheck disable=SC2086 # VXSWITCH_ARGS is a list of options
	"${pin[@]}" "${NICE[@]}" ip netns exec "$(ns v "h$n")" "$BIN" run -c "$base.yaml" "${admin[@]}" $VXSWITCH_ARGS 2>"$base.log" &
	pid=$!
	PIDS+=("$pid")
	printf -v "PID_V$n" '%s' "$pid"
	for ((i = 0; i < 150; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" && rc=0 || rc=$?
			die "vxswitch on h$n (pid $pid) exited with status $rc before it ran"
		fi
		if ip -n "$(ns v "c$n")" -4 addr show dev eth1 2>/dev/null | grep 'inet ' >/dev/null &&
			grep -q 'vxswitch running' "$base.log"; then
			return 0
		fi
		sleep 0.1
	done
	die "vxswitch on h$n: eth1 did not appear in $(ns v "c$n") within 15 s"
}

# start_iperf_server FLAVOR: iperf3 -s in c2, waits until it listens.
start_iperf_server() {
	local f=$1 pid i
	"${PIN2[@]}" ip netns exec "$(ns "$f" c2)" iperf3 -s -B "$IP2" -p "$IPERF_PORT" >"$DIR/$f-iperf3-server.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	for ((i = 0; i < 50; i++)); do
		ip netns exec "$(ns "$f" c2)" ss -Hltn "sport = :$IPERF_PORT" | grep . >/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || die "iperf3 server in $(ns "$f" c2) exited early"
		sleep 0.1
	done
	die "iperf3 server in $(ns "$f" c2) not listening after 5 s"
}

# reachable FLAVOR: c1 can ping c2 within 10 s.
reachable() {
	local i
	for ((i = 0; i < 10; i++)); do
		ip netns exec "$(ns "$1" c1)" ping -n -c 1 -W 1 "$IP2" >/dev/null 2>&1 && return 0
	done
	die "$1: $IP1 cannot reach $IP2 across the overlay"
}

say "Building the kernel topology (namespaces $(ns k '{h1,h2,c1,c2}'))"
hosts k
kernel_host 1 "$UL1" "$UL2" "$MAC1" "$IP1"
kernel_host 2 "$UL2" "$UL1" "$MAC2" "$IP2"
reachable k
start_iperf_server k

say "Building the vxswitch topology (namespaces $(ns v '{h1,h2,c1,c2}'))"
hosts v
vxswitch_config "$DIR/v-h1.yaml" "$UL1" "$UL2" "$(ns v c1)" "$MAC1" "$IP1"
vxswitch_config "$DIR/v-h2.yaml" "$UL2" "$UL1" "$(ns v c2)" "$MAC2" "$IP2"
start_vxswitch 1
start_vxswitch 2
echo "vxswitch pids: h1 $PID_V1, h2 $PID_V2"
reachable v
start_iperf_server v

# ---------------------------------------------------------------- measuring

# Results: one file per flavor and metric, one value per run.
mkdir -p "$DIR/res"
record() { echo "$3" >>"$DIR/res/$1.$2"; }

# iperf FLAVOR NAME ARGS...: iperf3 client in c1 against c2, JSON in
# $DIR/FLAVOR-NAME.json; retries once if the server is still busy with the
# previous test. Returns non-zero and notes the failure if iperf3 failed.
iperf() {
	local f=$1 name=$2 out err=""
	shift 2
	out=$DIR/$f-$name.json
	for _ in 1 2 3; do
		if "${PIN1[@]}" ip netns exec "$(ns "$f" c1)" timeout $((DURATION + 30)) \
			iperf3 -c "$IP2" -p "$IPERF_PORT" -t "$DURATION" -J "$@" >"$out" 2>"$DIR/$f-$name.err"; then
			return 0
		fi
		err=$(jq -r '.error // empty' "$out" 2>/dev/null || true)
		[[ $err == *busy* ]] || break
		sleep 1
	done
	FAILED+=("$f $name: ${err:-iperf3 exited non-zero: $(tail -n 1 "$DIR/$f-$name.err")}")
	return 1
}

# ping_rtts FLAVOR NAME PING-ARGS...: PINGS pings; per-packet RTTs (ms)
# from the reply lines, p50 and p99 by nearest rank, in µs, recorded as
# NAME_p50 and NAME_p99, and the replies as NAME_replies.
ping_rtts() {
	local f=$1 name=$2 n
	shift 2
	"${PIN1[@]}" ip netns exec "$(ns "$f" c1)" ping -n -c "$PINGS" "$@" -W 1 "$IP2" >"$DIR/$f-$name.out" 2>&1 || true
	sed -n 's/.* time=\([0-9.]*\) ms.*/\1/p' "$DIR/$f-$name.out" | sort -g >"$DIR/$f-$name.rtt"
	n=$(wc -l <"$DIR/$f-$name.rtt")
	record "$f" "${name}_replies" "$n"
	if ((n == 0)); then
		FAILED+=("$f $name: no replies")
		return
	fi
	record "$f" "${name}_p50" "$(percentile "$DIR/$f-$name.rtt" 0.50 | awk '{ printf "%.0f", $1 * 1000 }')"
	record "$f" "${name}_p99" "$(percentile "$DIR/$f-$name.rtt" 0.99 | awk '{ printf "%.0f", $1 * 1000 }')"
	tail -n 2 "$DIR/$f-$name.out"
}

# percentile FILE P: nearest-rank percentile of the sorted numbers in FILE.
percentile() {
	awk -v p="$2" '{ v[NR] = $1 } END {
		i = p * NR; if (i > int(i)) i = int(i) + 1; if (i < 1) i = 1
		print v[i] }' "$1"
}

# cputime PID: utime + stime of the whole process, in clock ticks.
cputime() {
	# Fields after the ")" that ends comm: utime and stime are 12th and 13th.
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# status_mib PID FIELD: a memory field of /proc/PID/status (VmRSS, VmHWM), MiB.
status_mib() {
	awk -v f="$2:" '$1 == f { print $2 / 1024 }' "/proc/$1/status"
}

# rcvbuf_errors NS: UDP datagrams dropped in NS for a full socket receive buffer.
rcvbuf_errors() {
	ip netns exec "$1" cat /proc/net/snmp | awk '$1 == "Udp:" {
		if (!c) { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i; next }
		print $c }'
}

# snap: kernel drop counters around the vxswitch topology, as
# "c1_tap_tx c1_tap_rx h1_udp_rcvbuf c1_udp_rcvbuf c2_tap_tx c2_tap_rx
# h2_udp_rcvbuf c2_udp_rcvbuf". From a container's side, TAP TX is what
# vxswitch reads, RX what it writes; a container's UDP receive-buffer drops
# are iperf3's server not keeping up.
snap() {
	local n
	for n in 1 2; do
		ip -n "$(ns v "c$n")" -j -s link show dev eth1 | jq -r '.[0].stats64 | "\(.tx.dropped) \(.rx.dropped)"'
		rcvbuf_errors "$(ns v "h$n")"
		rcvbuf_errors "$(ns v "c$n")"
	done | paste -sd' '
}

# drops_begin FLAVOR / drops_end FLAVOR TEST: note the drops during TEST.
drops_begin() { if [[ $1 == v ]]; then DROPS0=$(snap); fi; }
drops_end() { if [[ $1 == v ]]; then echo "$run $2 $DROPS0 $(snap)" >>"$DIR/v-drops"; fi; }

drops_report() {
	printf '%-3s %-6s | %11s %11s %11s %11s | %11s %11s %11s %11s\n' run test \
		"c1 TAP read" "h2 socket" "c2 input" "c2 socket" "c2 TAP read" "h1 socket" "c1 input" "c1 socket"
	[[ -s $DIR/v-drops ]] || return 0
	awk '{ printf "%-3s %-6s | %11d %11d %11d %11d | %11d %11d %11d %11d\n", $1, $2,
		$11 - $3, $17 - $9, $16 - $8, $18 - $10, $15 - $7, $13 - $5, $12 - $4, $14 - $6 }' "$DIR/v-drops"
}

# measure FLAVOR NAME KIND IPERF3_ARGS...: one iperf3 test, with the drops
# around it; records its metrics under NAME from the JSON, for KIND tcp
# (receiver Gb/s, retransmits) or udp (packets/s sent and received, loss).
# Returns non-zero if iperf3 failed.
measure() {
	local f=$1 name=$2 kind=$3 j ok
	shift 3
	drops_begin "$f"
	iperf "$f" "$name" "$@" && ok=1 || ok=0
	drops_end "$f" "$name"
	((ok)) || return 1
	j=$DIR/$f-$name.json
	case $kind in
	tcp)
		record "$f" "$name" "$(jq '.end.sum_received.bits_per_second / 1e9' "$j")"
		record "$f" "${name}_retr" "$(jq '.end.sum_sent.retransmits' "$j")"
		echo "receiver $(jq -r '.end.sum_received.bits_per_second / 1e9 | . * 100 | round / 100' "$j") Gb/s," \
			"retransmits $(jq '.end.sum_sent.retransmits' "$j")"
		;;
	udp)
		record "$f" "${name}_tx" "$(jq '.end.sum_sent.packets / .end.sum_sent.seconds / 1000' "$j")"
		record "$f" "${name}_rx" "$(jq '(.end.sum_received.packets - .end.sum_received.lost_packets) / .end.sum_received.seconds / 1000' "$j")"
		record "$f" "${name}_loss" "$(jq '.end.sum_received.lost_percent' "$j")"
		jq -r '.end | "sent \(.sum_sent.packets) packets, received \(.sum_received.packets - .sum_received.lost_packets), lost \(.sum_received.lost_percent * 100 | round / 100) %"' "$j"
		;;
	esac
}

suite() {
	local f=$1
	# Pings first, on an idle overlay: after the UDP flood queues may still drain.
	say "$f: $PINGS pings, 1 ms apart"
	drops_begin "$f"
	ping_rtts "$f" rtt -i 0.001
	drops_end "$f" ping
	# Back to back (each ping sent as its reply arrives), the CPUs get no
	# time to go idle between round trips: the difference from the row
	# above is what waking idle CPUs costs.
	say "$f: $PINGS pings, back to back"
	ping_rtts "$f" artt -A
	say "$f: TCP, 1 stream, ${DURATION} s"
	measure "$f" tcp1 tcp || true
	say "$f: TCP, 4 streams, ${DURATION} s"
	measure "$f" tcp4 tcp -P 4 || true
	say "$f: UDP, 64-byte payloads, unlimited rate, ${DURATION} s"
	# The same offered load for both: what the kernel received at full
	# rate in this run (the kernel's suite runs first).
	if measure "$f" udp udp -u -b 0 -l 64 && [[ $f == k ]]; then
		UDP_RATE=$(jq '(.end.sum_received.packets - .end.sum_received.lost_packets) / .end.sum_received.seconds | floor' "$DIR/k-udp.json")
	fi
	if ((UDP_RATE > 0)); then
		say "$f: UDP, 64-byte payloads, $UDP_RATE packets/s offered (the kernel's received rate), ${DURATION} s"
		# iperf3's -b counts payload bits: 64 bytes, 512 bits a packet.
		measure "$f" udpfix udp -u -b $((UDP_RATE * 512)) -l 64 || true
	fi
}

for ((run = 1; run <= RUNS; run++)); do
	say "Run $run of $RUNS: kernel, then vxswitch"
	UDP_RATE=0
	suite k
	c1=$(cputime "$PID_V1") c2=$(cputime "$PID_V2") t0=$(date +%s.%N)
	suite v
	# The switches must have lived through the suite for these to mean anything.
	kill -0 "$PID_V1" 2>/dev/null || die "vxswitch on h1 (pid $PID_V1) died during the run"
	kill -0 "$PID_V2" 2>/dev/null || die "vxswitch on h2 (pid $PID_V2) died during the run"
	record v cpu1 "$(awk -v a="$c1" -v b="$(cputime "$PID_V1")" -v t="$TICKS" 'BEGIN { print (b - a) / t }')"
	record v cpu2 "$(awk -v a="$c2" -v b="$(cputime "$PID_V2")" -v t="$TICKS" 'BEGIN { print (b - a) / t }')"
	record v wall "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
done
for n in 1 2; do
	pid=PID_V$n
	record v "rss$n" "$(status_mib "${!pid}" VmHWM)"
done

# Final counters: SIGTERM each switch, which then prints them.
for n in 1 2; do
	pid=PID_V$n
	kill -TERM "${!pid}"
	for ((i = 0; i < 100; i++)); do
		kill -0 "${!pid}" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "${!pid}" 2>/dev/null && die "vxswitch on h$n still running 10 s after SIGTERM"
	wait "${!pid}" && rc=0 || rc=$?
	forget "${!pid}"
	[[ $rc -eq 0 ]] || FAILED+=("vxswitch on h$n exited with status $rc")
	sed -n '/shutting down/,$p' "$DIR/v-h$n.log" | tail -n +2 >"$DIR/v-h$n.counters"
done

# ---------------------------------------------------------------- MAC table

# table_size SOCKET: entries in network bench's MAC table, from `vxswitch stats`.
table_size() {
	"$BIN" stats --socket "$1" -o json | jq -e '.networks[] | select(.name == "bench") | .macs'
}

# settle SOCKET WANT: the table size once it reaches WANT, or once it has not
# grown for 1 s (the switch has worked through its socket buffer).
settle() {
	local n prev=-1 same=0 i
	for ((i = 0; i < 300; i++)); do
		n=$(table_size "$1") || return 1
		if ((n >= $2)); then
			break
		elif ((n == prev)); then
			((++same < 5)) || break
		else
			same=0 prev=$n
		fi
		sleep 0.2
	done
	echo "$n"
}

# fill_table: a fresh pair of switches, h1's table with room for FDB_MACS
# learned MACs and an ageing far longer than the phase; from h2's namespace
# (a peer in h1's flood list, from a port other than 4789, which h2's switch
# holds) one datagram per MAC to h1, all of them again at a lower rate while
# any are missing. Records h1's table size, and its VmRSS before and after
# and VmHWM. The switches are stopped again at the end.
fill_table() {
	local sock=$DIR/v-h1-fill.sock base n rate tries=0 drops learned pid
	vxswitch_config "$DIR/v-h1-fill.yaml" "$UL1" "$UL2" "$(ns v c1)" "$MAC1" "$IP1" \
		"max_macs: $((FDB_MACS + 1024))" "ageing: 1h"
	vxswitch_config "$DIR/v-h2-fill.yaml" "$UL2" "$UL1" "$(ns v c2)" "$MAC2" "$IP2"
	start_vxswitch 1 -fill
	start_vxswitch 2 -fill
	echo "vxswitch pids: h1 $PID_V1, h2 $PID_V2"
	base=$(table_size "$sock") || die "vxswitch stats --socket $sock failed"
	record v fill_rss0 "$(status_mib "$PID_V1" VmRSS)"
	drops=$(rcvbuf_errors "$(ns v h1)")
	for rate in 50000 10000 2000; do
		tries=$((tries + 1))
		ip netns exec "$(ns v h2)" "$FDBFILL" -from "$UL2" -to "$UL1:4789" -vni "$VNI" \
			-n "$FDB_MACS" -rate "$rate" || die "fdbfill in $(ns v h2) failed"
		n=$(settle "$sock" $((base + FDB_MACS))) || die "vxswitch stats --socket $sock failed"
		echo "h1's MAC table: $n entries ($base before)"
		((n - base < FDB_MACS)) || break
	done
	kill -0 "$PID_V1" 2>/dev/null || die "vxswitch on h1 (pid $PID_V1) died during the fill"
	record v fill_macs "$n"
	record v fill_rss1 "$(status_mib "$PID_V1" VmRSS)"
	record v fill_hwm "$(status_mib "$PID_V1" VmHWM)"
	drops=$(($(rcvbuf_errors "$(ns v h1)") - drops))
	# Only now, as listing the table costs the switch memory of its own.
	if learned=$("$BIN" fdb --network bench --socket "$sock" -o json |
		jq '[.[]? | select(.mac | startswith("02:fd:"))] | length'); then
		record v fill_learned "$learned"
		echo "of them from the fill: $learned; h1's socket buffer dropped $drops datagrams"
		((learned >= FDB_MACS)) ||
			FAILED+=("MAC table, run $run: $learned of $FDB_MACS MACs learned after $tries rounds")
	else
		learned=n/a
		FAILED+=("MAC table, run $run: vxswitch fdb --socket $sock failed")
	fi
	echo "$run $tries $rate $drops $base $n $learned" >>"$DIR/v-fill"
	for pid in "$PID_V1" "$PID_V2"; do
		stop "$pid"
		forget "$pid"
	done
}

if ((FDB_MACS > 0)); then
	for ((run = 1; run <= RUNS; run++)); do
		say "Run $run of $RUNS: vxswitch MAC table, $FDB_MACS MACs learned from h2"
		fill_table
	done
fi

# ------------------------------------------------------------------ report

# modes: the TAP and underlay modes vxswitch logged at start, from h1.
modes() {
	grep -E 'tap open|underlay' "$DIR/v-h1.log" | grep -o '"mode": "[^"]*"' | cut -d'"' -f4 |
		paste -sd' ' - | sed 's/^$/not logged/'
}

# median FLAVOR METRIC: median over runs ("" if there is none).
median() {
	local f=$DIR/res/$1.$2
	[[ -s $f ]] || return 0
	sort -g "$f" | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# fmt VALUE DECIMALS: number or "n/a".
fmt() { [[ -n $1 ]] && printf "%.${2}f" "$1" || printf 'n/a'; }

# ratio V K: V/K to two decimals, or "—".
ratio() {
	[[ -n $1 && -n $2 ]] || { printf '—'; return; }
	awk -v v="$1" -v k="$2" 'BEGIN { if (k == 0) printf "—"; else printf "%.2f", v / k }'
}

row() { # LABEL METRIC DECIMALS
	local k v
	k=$(median k "$2") v=$(median v "$2")
	printf '| %s | %s | %s | %s |\n' "$1" "$(fmt "$k" "$3")" "$(fmt "$v" "$3")" "$(ratio "$v" "$k")"
}
vrow() { # LABEL METRIC DECIMALS: vxswitch only
	printf '| %s | — | %s | — |\n' "$1" "$(fmt "$(median v "$2")" "$3")"
}

{
	echo "## vxswitch end-to-end benchmark"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC') · vxswitch $("$BIN" version | awk '{ print $2 }') ·" \
		"kernel $(uname -r) · $(nproc) CPUs · $RUNS run(s), median shown · iperf3 ${DURATION} s per test"
	echo
	echo "Load average before / after: $LOAD_START / $(cut -d' ' -f1-3 /proc/loadavg)." \
		"vxswitch ${VXSWITCH_ARGS:+(run $VXSWITCH_ARGS) }${VXSWITCH_NICE:+(at nice $VXSWITCH_NICE) }modes: $(modes)."
	echo
	if ((${#PIN1[@]})); then
		echo "CPU placement (HOST_CPUS, both flavors): h1's side (its vxswitch; iperf3 client and ping" \
			"in c1) on CPU ${HOST_CPU[0]}, h2's side (its vxswitch; iperf3 server in c2) on CPU ${HOST_CPU[1]}."
	else
		echo "CPU placement: unpinned, the scheduler's choice (HOST_CPUS unset)."
	fi
	echo
	echo "| metric | kernel | vxswitch | vxswitch/kernel |"
	echo "| --- | ---: | ---: | ---: |"
	row "TCP, 1 stream (Gb/s, receiver)" tcp1 2
	row "TCP, 1 stream, retransmitted segments" tcp1_retr 0
	row "TCP, 4 streams (Gb/s, receiver)" tcp4 2
	row "TCP, 4 streams, retransmitted segments" tcp4_retr 0
	row "UDP 64 B, sent (kpps)" udp_tx 1
	row "UDP 64 B, received (kpps)" udp_rx 1
	row "UDP 64 B, loss (%)" udp_loss 1
	row "UDP 64 B at the kernel's received rate, offered (kpps)" udpfix_tx 1
	row "UDP 64 B at the kernel's received rate, received (kpps)" udpfix_rx 1
	row "UDP 64 B at the kernel's received rate, loss (%)" udpfix_loss 2
	row "ping RTT p50 (µs)" rtt_p50 0
	row "ping RTT p99 (µs)" rtt_p99 0
	row "ping replies (of $PINGS)" rtt_replies 0
	row "ping back to back (-A), RTT p50 (µs)" artt_p50 0
	row "ping back to back (-A), RTT p99 (µs)" artt_p99 0
	row "ping back to back, replies (of $PINGS)" artt_replies 0
	vrow "vxswitch h1 CPU time (s, utime+stime)" cpu1 2
	vrow "vxswitch h2 CPU time (s, utime+stime)" cpu2 2
	vrow "vxswitch suite wall time (s)" wall 1
	vrow "vxswitch h1 peak RSS (MiB, VmHWM)" rss1 1
	vrow "vxswitch h2 peak RSS (MiB, VmHWM)" rss2 1
	if ((FDB_MACS > 0)); then
		vrow "MAC table: entries in h1's table after the fill (vxswitch stats)" fill_macs 0
		vrow "MAC table: of them fill MACs, of $FDB_MACS sent (vxswitch fdb)" fill_learned 0
		vrow "MAC table: h1 RSS before the fill (MiB, VmRSS)" fill_rss0 1
		vrow "MAC table: h1 RSS after the fill (MiB, VmRSS)" fill_rss1 1
		vrow "MAC table: h1 peak RSS (MiB, VmHWM)" fill_hwm 1
	fi
	echo
	echo "Ratios are vxswitch ÷ kernel: above 1 is better for throughput and packet" \
		"rates, worse for latency (a p50 ratio of 3 means vxswitch's round trip" \
		"takes 3× as long) and for loss. CPU time covers the whole vxswitch suite" \
		"(both TCP tests, UDP and ping; ÷ wall time = cores busy); the kernel's" \
		"share of the same work runs in softirq and is not attributed to a process."
	if ((FDB_MACS > 0)); then
		echo
		echo "MAC table rows: a fresh vxswitch on h1 (max_macs $((FDB_MACS + 1024)), ageing 1h)," \
			"after the throughput tests, learns $FDB_MACS MACs from VXLAN datagrams sent by h2;" \
			"its peak RSS covers its start and the fill, not the throughput tests above."
	fi
	if ((${#FAILED[@]})); then
		echo
		echo "**Failed:**"
		printf -- '- %s\n' "${FAILED[@]}"
	fi
	echo
	echo "<details><summary>vxswitch final counters, and the kernel's drops around it</summary>"
	echo
	for n in 1 2; do
		echo "h1 h2" | awk -v n="$n" '{ printf "%s:\n", $n }'
		echo '```'
		cat "$DIR/v-h$n.counters"
		echo '```'
	done
	echo "Packets the kernel dropped around vxswitch, per test (vxswitch counts only its own" \
		"drops). c1→c2: c1's TAP queue (h1 did not read in time), h2's underlay socket" \
		"buffer (h2 did not drain it in time), c2's input (what h2 wrote), c2's UDP socket" \
		"buffers (the receiving iperf3 did not keep up). c2→c1 the mirror image."
	echo '```'
	drops_report
	echo '```'
	if [[ -s $DIR/v-fill ]]; then
		echo "MAC table fill, per run: rounds of $FDB_MACS datagrams sent (all again, slower," \
			"while any MAC was missing), the last round's rate, datagrams h1's socket buffer" \
			"dropped, h1's table size before and after, fill MACs in it."
		echo '```'
		printf '%-3s %6s %9s %8s %6s %8s %8s\n' run rounds "rate (/s)" drops before after learned
		awk '{ printf "%-3s %6s %9s %8s %6s %8s %8s\n", $1, $2, $3, $4, $5, $6, $7 }' "$DIR/v-fill"
		echo '```'
	fi
	echo "</details>"
} >"$DIR/report.md"

say "Results (also in $OUT)"
cp "$DIR/report.md" "$OUT"
cat "$OUT"

if ((${#FAILED[@]})); then
	echo >&2
	echo "BENCH: ${#FAILED[@]} measurement(s) failed; see the table" >&2
	exit 1
fi
