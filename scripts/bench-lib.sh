# Sourced by the bench scripts (bench.sh, podman.sh): the machine-wide lock,
# package installs and daemon waits they share. Expects `say` and STATE.

# Test processes (and checkouts) call the bench scripts at once; one at a
# time does the work (and one apt at a time runs).
bench_lock() {
    exec 9>/tmp/log-capturer-bench.lock
    flock -w 300 9 || { say "another bench script held the lock for 5 minutes"; exit 1; }
}

# install_missing LOG PACKAGE...: installs the Debian packages given (none: nothing).
install_missing() {
    local log=$1
    shift
    [ $# -gt 0 ] || return 0
    say "installing $*"
    # needrestart (when installed) must not restart anything running here.
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    apt-get update -qq >/dev/null
    apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
}

# answers SOCKET: whether GET /_ping on the socket answers OK within 2 s.
answers() {
    curl -sf --max-time 2 --unix-socket "$1" http://localhost/_ping >/dev/null 2>&1
}

# await_answer SOCKET NAME LOG: waits up to 60 s for a daemon just started.
await_answer() {
    for _ in $(seq 1 120); do
        answers "$1" && return 0
        sleep 0.5
    done
    say "$2 did not answer within 60 s"
    tail -20 "$3" >&2
    exit 1
}
