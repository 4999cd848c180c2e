#!/usr/bin/env bash
# ccp, split deployment: Caddy on :3000 in front of proxy-core (:3001) and proxy-data (:3002).
#
#   ./run-split.sh                 bootstrap .venv, migrate, start all three, supervise until Ctrl-C
#   ./run-split.sh restart data    replace proxy-data (traffic through :3000 keeps flowing)
#   ./run-split.sh restart core    replace proxy-core (new requests wait in Caddy meanwhile)
#   ./run-split.sh stop            stop the running stack gracefully
#   ./run-split.sh status          pid, liveness and health of each service
#
# Honours CCP_HOST, CCP_PORT, CCP_CORE_PORT, CCP_DATA_PORT, DATA_DIR (and ccp.toml / CCP_CONFIG,
# which the services read themselves). PID files live in $DATA_DIR/run, logs in $DATA_DIR/logs.
# RUN_SPLIT_BOOTSTRAP=0 skips the venv install step; RUN_SPLIT_HEALTH_DEADLINE (s, default 30).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=$ROOT/.venv
BIN=$VENV/bin
SERVICES=(core data caddy)
HEALTH_DEADLINE=${RUN_SPLIT_HEALTH_DEADLINE:-30}

# Printed one value group per line for resolve_config.
PY_RESOLVE_CONFIG='
import sys
from ccp_shared.config import ConfigError, load_config
try:
    c = load_config()
except ConfigError as exc:
    sys.exit(f"run-split: error: configuration: {exc}")
print(c["host"], c["port"], c["core_port"], c["data_port"], c["service_host"])
print(c.data_dir.absolute())
print(c.db_path.absolute())
print(int(c["proxy.shutdown_grace"]))
'

# Exits non-zero naming every port of the three that cannot be bound: the check the services
# make themselves (a port in TIME_WAIT, a stack stopped a moment ago, counts as free).
PY_CHECK_PORTS='
import sys
from ccp_shared.serve import port_problem
host, port, svc_host, core, data = sys.argv[1:]
problems = [
    problem
    for what, h, p in (
        ("CCP_PORT (Caddy)", host, port),
        ("CCP_CORE_PORT (proxy-core)", svc_host, core),
        ("CCP_DATA_PORT (proxy-data)", svc_host, data),
    )
    if (problem := port_problem(h, int(p), what))
]
if problems:
    sys.exit("run-split: error: " + " ".join(problems))
'

say() { printf 'run-split: %s\n' "$*"; }
die() {
	printf 'run-split: error: %s\n' "$*" >&2
	exit 1
}

usage() {
	sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# --- bootstrap ---------------------------------------------------------------------------------

# The Makefile's stamp (.venv/.installed) means "installed with the dev extra"; this script only
# needs the runtime, so it writes its own stamp and never fakes the Makefile's one.
ensure_venv() {
	local make_stamp=$VENV/.installed run_stamp=$VENV/.installed-run python=${PYTHON:-python3}
	# RUN_SPLIT_BOOTSTRAP=0: the venv is managed elsewhere (make, CI, the test-suite).
	if [[ ${RUN_SPLIT_BOOTSTRAP:-1} == 0 ]]; then
		[[ -x $BIN/proxy-core ]] || die "RUN_SPLIT_BOOTSTRAP=0 but $BIN/proxy-core is missing"
		return
	fi
	if [[ ! -x $BIN/python ]]; then
		command -v "$python" >/dev/null || die "$python not found; install Python 3.11 or newer"
		"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
			die "$python is older than 3.11; set PYTHON=python3.11 (or newer)"
		say "creating $VENV"
		"$python" -m venv "$VENV" || die "could not create $VENV (Debian: apt install python3-venv)"
	fi
	if [[ -f $make_stamp && ! $ROOT/pyproject.toml -nt $make_stamp ]] ||
		[[ -f $run_stamp && ! $ROOT/pyproject.toml -nt $run_stamp ]]; then
		return
	fi
	say "installing ccp into $VENV (pyproject.toml changed or first run)"
	"$BIN/python" -m pip install -q -e "$ROOT" || die "pip install -e $ROOT failed"
	touch "$run_stamp"
}

# Ports and the data directory as the services will see them (defaults < ccp.toml < env), so a
# port set in ccp.toml is honoured here too. Exported for the children and for Caddy.
resolve_config() {
	local resolved
	resolved=$("$BIN/python" -c "$PY_RESOLVE_CONFIG") || exit 1
	{
		read -r CCP_HOST CCP_PORT CCP_CORE_PORT CCP_DATA_PORT CCP_SERVICE_HOST
		read -r DATA_DIR
		read -r DB_PATH
		read -r SHUTDOWN_GRACE
	} <<<"$resolved"
	export CCP_HOST CCP_PORT CCP_CORE_PORT CCP_DATA_PORT CCP_SERVICE_HOST DATA_DIR
	RUN_DIR=$DATA_DIR/run
	LOG_DIR=$DATA_DIR/logs
}

# --- processes -----------------------------------------------------------------------------------

pid_file() { echo "$RUN_DIR/$1.pid"; }
read_pid() { cat "$(pid_file "$1")" 2>/dev/null || true; }

declare -A PROGRAM=([core]=proxy-core [data]=proxy-data [caddy]=caddy [supervisor]=run-split)

# Alive = running, not a zombie, and still the program we started (PIDs get reused). Builtins
# only, no $(…): this runs every second in the supervisor, and bash 5.2 can fail to parse a
# signal trap that fires while it is expanding a command substitution.
alive() {
	local pid=$1 name=$2 stat args
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	read -r stat 2>/dev/null <"/proc/$pid/stat" || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]] || return 1
	mapfile -d '' args 2>/dev/null <"/proc/$pid/cmdline" || return 1
	[[ " ${args[*]} " == *"$name"* ]]
}

service_alive() {
	local pid=
	[[ -r $RUN_DIR/$1.pid ]] && read -r pid <"$RUN_DIR/$1.pid"
	alive "$pid" "${PROGRAM[$1]}"
}

health_url() {
	local probe_host=$CCP_SERVICE_HOST
	[[ $probe_host == 0.0.0.0 || $probe_host == "::" ]] && probe_host=127.0.0.1
	case $1 in
	core) echo "http://$probe_host:$CCP_CORE_PORT/health" ;;
	data) echo "http://$probe_host:$CCP_DATA_PORT/health" ;;
	caddy) echo "http://$(front_host):$CCP_PORT/" ;;
	esac
}

front_host() {
	if [[ $CCP_HOST == 0.0.0.0 || $CCP_HOST == "::" ]]; then echo 127.0.0.1; else echo "$CCP_HOST"; fi
}

# Prints the HTTP status of the health probe (000 when nothing answers).
health_code() {
	local head=()
	[[ $1 == caddy ]] && head=(--head)
	# --noproxy: our own services, never through the http_proxy a corporate machine may set.
	curl -s -o /dev/null -m 2 --noproxy '*' "${head[@]}" -w '%{http_code}' "$(health_url "$1")" \
		2>/dev/null || true
}

start_service() {
	local name=$1 log=$LOG_DIR/$1.log
	mkdir -p "$LOG_DIR" "$RUN_DIR"
	printf '\n==== %s starting %s\n' "$(date -u +%FT%TZ)" "$name" >>"$log"
	# setsid: Ctrl-C in the terminal reaches only this script, which then stops the services in
	# order (core drains its streams first) instead of all of them at once.
	case $name in
	core) setsid "$BIN/proxy-core" >>"$log" 2>&1 </dev/null & ;;
	data) setsid "$BIN/proxy-data" >>"$log" 2>&1 </dev/null & ;;
	caddy)
		# Tuned for a front whose only heavy route is one single-threaded proxy-core, on a
		# machine it shares with it (measured with make bench, docs/performance.md):
		# - GOMAXPROCS=1: one Go thread carries 3,700 streamed req/s, several times what
		#   proxy-core can; with more, the scheduler's spinning threads took a third of Caddy's
		#   CPU per request and competed with proxy-core for the cores.
		# - GOGC=400: the collector at its default took a sixth of Caddy's CPU: every request
		#   moves a 50 KB body through short-lived buffers. Caddy's live heap is a few MB.
		GOMAXPROCS=${GOMAXPROCS:-1} GOGC=${GOGC:-400} \
			setsid "$BIN/caddy" run --config "$ROOT/deploy/Caddyfile" --adapter caddyfile \
			>>"$log" 2>&1 </dev/null &
		;;
	esac
	echo $! >"$(pid_file "$name")"
}

# Waits for one service's health; on failure shows its log tail and returns 1.
wait_healthy() {
	local name=$1 deadline=$((SECONDS + HEALTH_DEADLINE)) code
	while ((SECONDS < deadline)); do
		code=$(health_code "$name")
		[[ $code == 200 ]] && return 0
		if ! service_alive "$name"; then
			say "${PROGRAM[$name]} exited during start-up; last lines of $LOG_DIR/$name.log:"
			tail -n 25 "$LOG_DIR/$name.log" >&2 || true
			return 1
		fi
		sleep 0.2
	done
	say "${PROGRAM[$name]} not healthy after ${HEALTH_DEADLINE}s ($(health_url "$name") -> $code);" \
		"last lines of $LOG_DIR/$name.log:"
	tail -n 25 "$LOG_DIR/$name.log" >&2 || true
	return 1
}

# SIGTERM, then wait up to $2 seconds before SIGKILL. Works for processes this shell did not
# start (a proxy-data started by `restart data` from another terminal).
stop_pid() {
	local pid=$1 name=$2 grace=$3 deadline
	alive "$pid" "$name" || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	deadline=$((SECONDS + grace))
	while alive "$pid" "$name"; do
		if ((SECONDS >= deadline)); then
			say "$name (pid $pid) still running after ${grace}s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
}

stop_service() {
	local name=$1 grace=15
	[[ $name == core ]] && grace=$((SHUTDOWN_GRACE + 5))
	stop_pid "$(read_pid "$name")" "${PROGRAM[$name]}" "$grace"
	rm -f "$(pid_file "$name")"
}

stop_all() {
	# Core first: hypercorn stops accepting and lets in-flight streams finish through Caddy;
	# then data; Caddy last so nothing in flight loses its front.
	local name
	for name in core data caddy; do
		if [[ -f $(pid_file "$name") ]]; then
			say "stopping ${PROGRAM[$name]}"
			stop_service "$name"
		fi
	done
}

check_ports() {
	"$BIN/python" -c "$PY_CHECK_PORTS" "$CCP_HOST" "$CCP_PORT" "$CCP_SERVICE_HOST" \
		"$CCP_CORE_PORT" "$CCP_DATA_PORT"
}

# --- commands ------------------------------------------------------------------------------------

supervisor_running() { service_alive supervisor; }

cleanup_supervisor() {
	# A second Ctrl-C must not cut the graceful stop short and leave services behind.
	trap '' INT TERM HUP
	stop_all
	rm -f "$(pid_file supervisor)"
}

cmd_start() {
	command -v curl >/dev/null || die "curl is needed for health checks; install it"
	mkdir -p "$DATA_DIR" "$RUN_DIR" "$LOG_DIR"
	if supervisor_running; then
		die "ccp is already running (run-split pid $(read_pid supervisor), data in $DATA_DIR);" \
			"use ./run-split.sh status | stop | restart data"
	fi
	local name
	for name in "${SERVICES[@]}"; do
		if service_alive "$name"; then
			die "${PROGRAM[$name]} from an earlier run is still alive (pid $(read_pid "$name"));" \
				"run ./run-split.sh stop first"
		fi
		rm -f "$(pid_file "$name")" "$RUN_DIR/$name.restarting"
	done
	check_ports || exit 1
	trap cleanup_supervisor EXIT
	# A requested stop (Ctrl-C, SIGTERM, `stop`) is a clean exit; the EXIT trap does the stopping.
	trap 'exit 0' INT TERM
	trap 'exit 129' HUP
	echo $$ >"$(pid_file supervisor)"

	say "migrating $DB_PATH"
	"$BIN/ccp" db upgrade >>"$LOG_DIR/upgrade.log" 2>&1 || {
		tail -n 25 "$LOG_DIR/upgrade.log" >&2
		die "ccp db upgrade failed (log: $LOG_DIR/upgrade.log)"
	}
	for name in core data caddy; do
		start_service "$name"
	done
	for name in core data caddy; do
		wait_healthy "$name" || die "start-up failed; stopping what started"
	done
	print_banner
	supervise
}

print_banner() {
	local front="http://localhost:$CCP_PORT" core_health data_health
	[[ $CCP_HOST == 127.0.0.1 || $CCP_HOST == 0.0.0.0 || $CCP_HOST == localhost ]] ||
		front="http://$CCP_HOST:$CCP_PORT"
	core_health=$(health_url core)
	data_health=$(health_url data)
	printf '\nccp is running\n'
	printf '  %-38s %s\n' "front (Claude Code and the APIs)" "$front" \
		"API index" "$front/" "proxy-core health" "$core_health" "proxy-data health" "$data_health" \
		database "$DB_PATH" logs "$LOG_DIR"
	printf '\nPoint Claude Code at it:\n\n  ANTHROPIC_BASE_URL=%s claude\n\n' "$front"
	printf 'Ctrl-C (or ./run-split.sh stop) stops all three;'
	printf ' ./run-split.sh restart data replaces proxy-data.\n'
}

# Foreground loop: report a service that dies on its own and start it again; a service being
# replaced by `restart` (marker file in RUN_DIR) is left alone.
supervise() {
	local name pid
	declare -A failures=([core]=0 [data]=0 [caddy]=0)
	while true; do
		for name in "${SERVICES[@]}"; do
			service_alive "$name" && continue
			# Checked after the death was seen: `restart` writes its marker before it stops
			# the old process, and removes it only once the new one is up.
			restart_in_progress "$name" && continue
			service_alive "$name" && continue
			((failures[$name] >= 3)) && continue
			pid=$(read_pid "$name")
			say "${PROGRAM[$name]} (pid ${pid:-?}) exited unexpectedly; last lines of $LOG_DIR/$name.log:"
			tail -n 15 "$LOG_DIR/$name.log" >&2 || true
			failures[$name]=$((failures[$name] + 1))
			if ((failures[$name] >= 3)); then
				say "${PROGRAM[$name]} failed 3 times; leaving it stopped (./run-split.sh restart $name)"
				continue
			fi
			say "starting ${PROGRAM[$name]} again"
			start_service "$name"
			if wait_healthy "$name"; then failures[$name]=0; fi
		done
		# `wait` on a background sleep lets the INT/TERM traps run at once.
		sleep 1 &
		wait $! || true
	done
}

restart_in_progress() {
	local marker=$RUN_DIR/$1.restarting owner
	[[ -f $marker ]] || return 1
	read -r owner 2>/dev/null <"$marker" || return 1
	alive "$owner" run-split
}

cmd_restart() {
	local name=${1:-}
	case $name in
	core | data) ;;
	*) die "usage: ./run-split.sh restart core|data" ;;
	esac
	supervisor_running || die "ccp is not running (no live run-split in $RUN_DIR); start it with ./run-split.sh"
	local marker=$RUN_DIR/$name.restarting old
	# noclobber makes the marker an atomic lock: two restarts of one service cannot interleave.
	if ! (set -o noclobber && echo $$ >"$marker") 2>/dev/null; then
		restart_in_progress "$name" && die "a restart of ${PROGRAM[$name]} is already in progress"
		echo $$ >"$marker"
	fi
	trap 'rm -f "$RUN_DIR/'"$name"'.restarting"' EXIT
	old=$(read_pid "$name")
	say "stopping ${PROGRAM[$name]} (pid ${old:-none})"
	# The new process binds the same port, so it starts only after the old one has exited;
	# meanwhile Caddy holds new requests (lb_try_duration) instead of failing them.
	stop_service "$name"
	say "starting ${PROGRAM[$name]}"
	start_service "$name"
	wait_healthy "$name" || die "${PROGRAM[$name]} did not come back; see $LOG_DIR/$name.log"
	say "${PROGRAM[$name]} restarted (pid $(read_pid "$name"))"
}

cmd_stop() {
	local pid deadline
	pid=$(read_pid supervisor)
	if alive "$pid" run-split; then
		say "stopping ccp (run-split pid $pid)"
		kill -TERM "$pid"
		deadline=$((SECONDS + SHUTDOWN_GRACE + 40))
		while alive "$pid" run-split; do
			((SECONDS < deadline)) || die "run-split (pid $pid) did not stop in time"
			sleep 0.2
		done
		say "stopped"
		return
	fi
	# No supervisor (killed with -9?): stop whatever services it left behind.
	local found=0 name
	for name in "${SERVICES[@]}"; do
		if service_alive "$name"; then
			found=1
			say "stopping leftover ${PROGRAM[$name]} (pid $(read_pid "$name"))"
		fi
	done
	stop_all
	rm -f "$(pid_file supervisor)"
	((found)) || say "ccp is not running"
}

cmd_status() {
	local name pid state code overall=0
	printf '%-12s %-8s %-6s %s\n' service pid alive health
	for name in supervisor "${SERVICES[@]}"; do
		pid=$(read_pid "$name")
		if alive "$pid" "${PROGRAM[$name]}"; then state=yes; else state=no; fi
		if [[ $name == supervisor ]]; then
			code=-
		else
			code=$(health_code "$name")
			[[ $code == 200 ]] || overall=1
		fi
		[[ $state == yes ]] || overall=1
		printf '%-12s %-8s %-6s %s\n' "${PROGRAM[$name]}" "${pid:--}" "$state" "$code"
	done
	printf 'front: http://localhost:%s   data: %s\n' "$CCP_PORT" "$DATA_DIR"
	return "$overall"
}

# Paths the user gives (DATA_DIR, CCP_CONFIG) are relative to where they ran the script; the
# defaults (./data, ./ccp.toml, a relative data_dir in ccp.toml) to the repository, so every
# command finds the same stack whatever directory it is run from.
enter_root() {
	if [[ -n ${DATA_DIR:-} && $DATA_DIR != /* ]]; then DATA_DIR=$PWD/$DATA_DIR; fi
	if [[ -n ${CCP_CONFIG:-} && $CCP_CONFIG != /* ]]; then CCP_CONFIG=$PWD/$CCP_CONFIG; fi
	cd "$ROOT" || die "cannot enter $ROOT"
}

main() {
	local cmd=${1:-start}
	case $cmd in
	-h | --help | help)
		usage
		return
		;;
	start | restart | stop | status) ;;
	*)
		usage >&2
		exit 2
		;;
	esac
	enter_root
	# stop and status use what is installed: after a `git pull` that changed pyproject.toml, a
	# failed reinstall (offline, say) must not keep `stop` from stopping the running stack.
	case $cmd in
	start | restart) ensure_venv ;;
	*) [[ -x $BIN/proxy-core ]] || die "ccp is not installed in $VENV (./run-split.sh installs it)" ;;
	esac
	resolve_config
	case $cmd in
	start) cmd_start ;;
	restart) cmd_restart "${2:-}" ;;
	stop) cmd_stop ;;
	status) cmd_status ;;
	esac
}

# Sourced (the tests do, to call ensure_venv alone), it only defines the functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
