# shellcheck shell=bash
# Shell helpers shared by demo.sh and bench-e2e.sh. Source it; it defines
# functions only.

say() { printf '\n==> %s\n' "$*"; }

# stop PID: SIGTERM, wait up to 10 s, then SIGKILL. Only for PIDs the
# calling script started.
stop() {
	local pid=$1 i
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "pid $pid did not exit within 10 s of SIGTERM; sending SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# need_root_and_binary TARGET ARGS...: the scripts take the vxswitch binary
# as their one argument and must run as root; sets BIN to its full path.
need_root_and_binary() {
	local target=$1
	shift
	if [[ $# -ne 1 ]]; then
		echo "usage: $0 PATH/TO/vxswitch" >&2
		exit 2
	fi
	if [[ $(id -u) -ne 0 ]]; then
		echo "$0: must be run as root (it creates network namespaces): sudo make $target" >&2
		exit 1
	fi
	BIN=$(realpath "$1")
	[[ -x $BIN ]] || { echo "$0: $1: not an executable" >&2; exit 1; }
}

# delete_created_ns: delete every namespace in the caller's CREATED_NS that
# still exists.
delete_created_ns() {
	local ns
	for ns in "${CREATED_NS[@]}"; do
		if [[ -e /run/netns/$ns ]]; then
			ip netns del "$ns"
		fi
	done
}

# on_exit FUNC: run FUNC when the script exits, also on ^C or SIGTERM
# (which exit 130 and 143, so FUNC still runs).
on_exit() {
	# shellcheck disable=SC2064 # FUNC is a name, meant to be expanded now
	trap "$1" EXIT
	trap 'echo "interrupted" >&2; exit 130' INT
	trap 'echo "terminated" >&2; exit 143' TERM
}
