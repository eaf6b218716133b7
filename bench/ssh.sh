#!/usr/bin/env bash
# SSH fan-out and directory sync: `deploy` against Fabric, Ansible, pyinfra,
# parallel-ssh, OpenSSH (ControlMaster) and rsync, on one private sshd on this
# machine (issue #3, "Speed"). Prints the tables on stdout. Not part of CI.
#
#   bench/ssh.sh [--deploy BIN] [--runs N] [--sizes "20 50 200"] [--skip-sync] [--skip-maxstartups] [--skip-diagnostics]
#
# What it does (bench/ssh_peers.py does the timing):
#   1. builds `deploy` (release) into $CARGO_TARGET_DIR (default /tmp/target-bench)
#      unless --deploy names a binary;
#   2. starts ONE private sshd (/usr/sbin/sshd; scripts/install-peers when missing)
#      on a free port with its own temp dir, host key, one ed25519 user key for
#      every tool, the config of deploy-ssh/src/testing.rs plus
#      `KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org` (one key
#      exchange for every tool; the second name is the same algorithm under its
#      pre-RFC name, the only one paramiko knows), and a known_hosts listing
#      its host key for [127.0.0.N]:PORT, N = 2..201;
#      plus a second sshd, same but with the default MaxStartups (10:30:100) and
#      LogLevel DEBUG1, for a burst run and a check of what each tool negotiates;
#   3. installs fabric, ansible-core, pyinfra and parallel-ssh into a virtualenv
#      under /tmp once (a package that fails to install is reported and skipped),
#      and rsync (Debian) when missing;
#   4. workload A: 10 commands (`echo N`, each its own channel and exit status)
#      on each of H hosts, H in --sizes; workload B: sync a seeded 5,000-file,
#      ~50 MB tree to one host: deploy vs rsync -a over ssh.
# Traffic goes to 127.0.0.x only. Every process it starts is ended by pid on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPLOY_BIN=
RUNS=3
SIZES="20 50 200"
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --deploy) DEPLOY_BIN=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --skip-sync|--skip-maxstartups|--skip-diagnostics) EXTRA+=("$1"); shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

VENV=/tmp/deploy-bench-venv
SSHD=/usr/sbin/sshd
log() { echo "bench: $*" >&2; }

# 1. The deploy binary.
if [ -z "$DEPLOY_BIN" ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-bench}
  log "building deploy (release) into $CARGO_TARGET_DIR"
  (cd "$ROOT" && cargo build --release -q -p deploy-cli) >&2
  DEPLOY_BIN=$CARGO_TARGET_DIR/release/deploy
fi
[ -x "$DEPLOY_BIN" ] || { echo "no deploy binary at $DEPLOY_BIN" >&2; exit 2; }

# 2. Peers on this machine: sshd, ssh, rsync.
[ -x "$SSHD" ] || "$ROOT/scripts/install-peers" >&2
MISSING=()
if ! command -v rsync >/dev/null 2>&1; then
  log "installing rsync"
  { apt-get install -y -qq rsync >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq rsync >/dev/null 2>&1; }; } ||
    MISSING+=("rsync (apt-get install failed)")
fi
for tool in ssh ssh-keygen; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench needs $tool (openssh-client)" >&2; exit 2; }
done

# 3. The Python peers, once, in a virtualenv.
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
for package in fabric ansible-core pyinfra parallel-ssh; do
  if ! "$VENV/bin/pip" show -q "$package" >/dev/null 2>&1; then
    log "pip install $package"
    "$VENV/bin/pip" install -q "$package" >&2 || MISSING+=("$package (pip install failed)")
  fi
done

# The private sshds: everything in one temp dir, removed on exit.
WORK=$(mktemp -d /tmp/deploy-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
CG=
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$CG" ]; then
    for group in client sshd sshd2; do rmdir "$CG/$group" 2>/dev/null || true; done
    rmdir "$CG" 2>/dev/null || true
  fi
  if [ -n "${BENCH_KEEP:-}" ]; then echo "bench: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# CPU accounting: a cpuacct cgroup (v1) each for the tool under test and for
# each sshd when this machine lets us make them; otherwise bench/ssh_peers.py
# falls back to wait4() rusage and /proc sums.
for base in /sys/fs/cgroup/cpuacct /sys/fs/cgroup/cpu,cpuacct; do
  if [ -w "$base" ] && [ -f "$base/cpuacct.usage" ]; then
    CG=$base/deploy-bench-$$
    mkdir -p "$CG/client" "$CG/sshd" "$CG/sshd2" 2>/dev/null || CG=
    break
  fi
done

mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$WORK/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C bench-user -f "$WORK/id_ed25519"
cp "$WORK/id_ed25519.pub" "$WORK/authorized_keys"
chmod 644 "$WORK/authorized_keys"
HOSTKEY=$(cut -d' ' -f1,2 "$WORK/host_ed25519.pub")
USER_NAME=${USER:-$(id -un)}
KEX="curve25519-sha256,curve25519-sha256@libssh.org"

free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_sshd NAME MAXSTARTUPS_LINE LOGLEVEL -> sets PORT_<NAME>, PID_<NAME>
start_sshd() {
  local name=$1 maxstartups=$2 loglevel=$3 port pid config log i
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    config=$WORK/$name.config
    log=$WORK/$name.log
    cat >"$config" <<EOF
Port $port
ListenAddress 0.0.0.0
HostKey $WORK/host_ed25519
PidFile $WORK/$name.pid
AuthorizedKeysFile $WORK/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
LogLevel $loglevel
${maxstartups}MaxSessions 200
SetEnv SHLVL=1
AllowStreamLocalForwarding yes
AllowTcpForwarding yes
Subsystem sftp internal-sftp
KexAlgorithms $KEX
EOF
    (
      if [ -n "$CG" ]; then echo "$BASHPID" >"$CG/$name/cgroup.procs"; fi
      exec "$SSHD" -f "$config" -D -e 2>"$log"
    ) &
    pid=$!
    for i in $(seq 1 100); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        PIDS+=("$pid")
        printf -v "PORT_$name" '%s' "$port"
        printf -v "PID_$name" '%s' "$pid"
        return 0
      fi
      sleep 0.05
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  echo "sshd ($name) did not start: $(cat "$log" 2>/dev/null)" >&2
  exit 1
}

start_sshd sshd $'MaxStartups 1000:30:2000\n' ERROR
# The burst run: sshd's default MaxStartups (10:30:100); DEBUG1 so that it
# logs each connection it drops ("past MaxStartups") and what each client negotiated.
start_sshd sshd2 '' DEBUG1

for n in $(seq 2 201); do echo "[127.0.0.$n]:$PORT_sshd $HOSTKEY"; done >"$WORK/known_hosts"
for n in $(seq 2 201); do echo "[127.0.0.$n]:$PORT_sshd2 $HOSTKEY"; done >"$WORK/known_hosts2"

# 4. Time everything.
SETTINGS=$WORK/settings.json
"$VENV/bin/python" - "$SETTINGS" <<EOF
import json, sys
json.dump({
    "work": "$WORK",
    "root": "$ROOT",
    "venv": "$VENV",
    "deploy": "$DEPLOY_BIN",
    "user": "$USER_NAME",
    "key": "$WORK/id_ed25519",
    "kex": "$KEX",
    "runs": int("$RUNS"),
    "sizes": [int(s) for s in "$SIZES".split()],
    "cgroup": "$CG",
    "sshd": {"port": int("$PORT_sshd"), "pid": int("$PID_sshd"), "known_hosts": "$WORK/known_hosts",
             "log": "$WORK/sshd.log", "cgroup": "$CG/sshd" if "$CG" else ""},
    "sshd2": {"port": int("$PORT_sshd2"), "pid": int("$PID_sshd2"), "known_hosts": "$WORK/known_hosts2",
              "log": "$WORK/sshd2.log", "cgroup": "$CG/sshd2" if "$CG" else ""},
    "client_cgroup": "$CG/client" if "$CG" else "",
    "missing": [m for m in """$(printf '%s\n' "${MISSING[@]+"${MISSING[@]}"}")""".splitlines() if m],
}, open(sys.argv[1], "w"), indent=1)
EOF
"$VENV/bin/python" "$ROOT/bench/ssh_peers.py" bench "$SETTINGS" "${EXTRA[@]+"${EXTRA[@]}"}"
