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
