#!/usr/bin/env python3
"""The timing half of bench/ssh.sh (run it through that script, not alone).

    ssh_peers.py bench SETTINGS.json [--skip-sync] [--skip-maxstartups]
    ssh_peers.py fabric CONF.json        # driver: Fabric ThreadingGroup, 10 `run` rounds
    ssh_peers.py pssh CONF.json          # driver: parallel-ssh, 10 `run_command` rounds

Every tool is run as its own program (`deploy`, `ssh`, `ansible-playbook`,
`pyinfra`, a Python process driving Fabric or parallel-ssh, `rsync`) and timed
from start to exit: wall time, the CPU of the tool's whole process tree (a
cpuacct cgroup when one could be made, so ssh ControlPersist masters that
leave the tree are counted too; else wait4() rusage), and the CPU the sshd
side used over the same run (its cgroup, else /proc: the master's
utime+stime+cutime+cstime plus its live descendants). Each run is checked:
a run whose commands did not all succeed is reported as failed, not timed.
"""

import hashlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
COMMANDS = 10
RUN_TIMEOUT = 900  # seconds, per program run
TREE_FILES = 5000
TREE_BYTES = 50_000_000
TREE_SEED = 20261121
TREE_MTIME = 1_700_000_000


def eprint(*args):
    print(*args, file=sys.stderr, flush=True)


def hosts_for(count, port):
    return [f"127.0.0.{n}:{port}" for n in range(2, 2 + count)]


def addresses(count):
    return [f"127.0.0.{n}" for n in range(2, 2 + count)]


# --------------------------------------------------------------------------
# CPU accounting

def read_int(path):
    with open(path) as f:
        return int(f.read().split()[0])


def proc_children():
    """pid -> list of child pids, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        after = stat.rsplit(")", 1)[1].split()
        children.setdefault(int(after[1]), []).append(int(entry))
    return children


def proc_cpu(pid):
    """utime+stime+cutime+cstime of pid, seconds (0 if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            after = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # after[0] is field 3 (state); utime is field 14.
    return sum(int(after[i]) for i in (11, 12, 13, 14)) / CLK_TCK


def machine_busy():
    """CPU seconds the whole machine has been busy (all cores)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / CLK_TCK


def wait_for_quiet(limit=60.0, busy_cores=0.5):
    """Waits (at most `limit` s) until the machine is quiet: under
    `busy_cores` cores busy over a 1 s sample. Returns the last sample."""
    deadline = time.monotonic() + limit
    while True:
        before = machine_busy()
        time.sleep(1.0)
        busy = machine_busy() - before
        if busy < busy_cores or time.monotonic() > deadline:
            return busy


def tree_cpu(root):
    children = proc_children()
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += proc_cpu(pid)
        stack.extend(children.get(pid, []))
    return total


class Sshd:
    def __init__(self, conf):
        self.port = conf["port"]
        self.pid = conf["pid"]
        self.known_hosts = conf["known_hosts"]
        self.log = conf["log"]
        self.cgroup = conf["cgroup"]

    def cpu(self):
        if self.cgroup:
            return read_int(f"{self.cgroup}/cpuacct.usage") / 1e9
        return tree_cpu(self.pid)

    def settle(self, limit=15.0):
        """Waits until no connection is left (the per-connection sshd
        processes have exited), so the CPU they used is counted."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if not proc_children().get(self.pid):
                return True
            time.sleep(0.05)
        return False

    def log_lines(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read().splitlines()
        except OSError:
            return []


# --------------------------------------------------------------------------
# Running one program

class Result:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def run_program(s, argv, rundir, verify, env=None, cwd=None, sshd=None):
    """Runs argv once; returns a Result with wall, client and sshd CPU, peak
    RSS, ok (verify(stdout, stderr, code) -> (ok, note)) and a note."""
    os.makedirs(rundir, exist_ok=True)
    client_cg = s["client_cgroup"]
    out_path, err_path = f"{rundir}/stdout", f"{rundir}/stderr"

    def child_setup():
        os.setsid()
        if client_cg:
            with open(f"{client_cg}/cgroup.procs", "w") as f:
                f.write(str(os.getpid()))

    full_env = dict(os.environ)
    for var in ("DEPLOY_CONFIG", "DEPLOY_VERBOSE", "DEPLOY_QUIET", "DEPLOY_DRY_RUN", "SSH_AUTH_SOCK"):
        full_env.pop(var, None)
    full_env.update(env or {})
    sshd.settle()
    quiet = wait_for_quiet()
    machine_before = machine_busy()
    sshd_before = sshd.cpu()
    client_before = read_int(f"{client_cg}/cpuacct.usage") / 1e9 if client_cg else 0.0
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=full_env, cwd=cwd or rundir, preexec_fn=child_setup)
        timed_out = []

        def kill_group():
            timed_out.append(True)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        timer = threading.Timer(RUN_TIMEOUT, kill_group)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    end_leftovers(client_cg, rundir)
    if client_cg:
        client = read_int(f"{client_cg}/cpuacct.usage") / 1e9 - client_before
    else:
        client = usage.ru_utime + usage.ru_stime
    settled = sshd.settle()
    sshd_cpu = sshd.cpu() - sshd_before
    # CPU used over the run by anything else on the machine (other work,
    # this harness): the machine's busy time minus the tool and sshd.
    other = max(0.0, machine_busy() - machine_before - client - sshd_cpu)
    with open(out_path, "rb") as f:
        stdout = f.read().decode(errors="replace")
    with open(err_path, "rb") as f:
        stderr = f.read().decode(errors="replace")
    if timed_out:
        ok, note = False, f"timed out after {RUN_TIMEOUT}s"
    else:
        ok, note = verify(stdout, stderr, proc.returncode)
    if not settled:
        note = (note + "; " if note else "") + "sshd connections still open 15 s after exit"
    return Result(wall=wall, client=client, sshd=sshd_cpu, other=other, quiet=quiet,
                  rss_mb=usage.ru_maxrss / 1024,
                  ok=ok, note=note, code=proc.returncode, stdout=stdout, stderr=stderr)


def end_leftovers(client_cg, rundir):
    """Ends what a run left behind (ssh ControlPersist masters): first a
    grace period, then SIGTERM, then SIGKILL, each by pid."""
    def leftovers():
        if client_cg:
            with open(f"{client_cg}/cgroup.procs") as f:
                return [int(p) for p in f.read().split()]
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        cmdline = f.read()
                        if rundir.encode() in cmdline or CONTROL_DIR.encode() in cmdline:
                            found.append(int(entry))
                except OSError:
                    pass
        return found

    for sig, wait in ((None, 3.0), (signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
        pids = leftovers()
        if not pids:
            return
        if sig is not None:
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and leftovers():
            time.sleep(0.05)


# --------------------------------------------------------------------------
# Workload A: 10 commands on each of H hosts

def expected_echo(i):
    return str(i)


def ssh_options(s, sshd):
    return ["-F", "/dev/null", "-p", str(sshd.port), "-l", s["user"], "-i", s["key"],
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={sshd.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes"]


def count_verify(expected, pattern=r"^ok \d+$"):
    def verify(stdout, stderr, code):
        m = re.search(r"^ok (\d+)$", stdout, re.M)
        got = int(m.group(1)) if m else 0
        if code == 0 and got == expected:
            return True, ""
        return False, f"exit {code}, {got}/{expected} commands ok; {tail(stderr or stdout)}"
    return verify


def tail(text, n=200):
    text = " ".join(text.strip().splitlines()[-3:])
    return text[-n:]


def tool_deploy(s, sshd, count, rundir, extra=(), commands=COMMANDS):
    lines = [
        "[ssh]",
        f'user = "{s["user"]}"',
        f'identity_files = ["{s["key"]}"]',
        f'known_hosts = "{sshd.known_hosts}"',
        'host_keys = "strict"',
        "",
        "[environments.bench]",
        "hosts = [" + ", ".join(f'"{h}"' for h in hosts_for(count, sshd.port)) + "]",
        "",
        "[tasks.t]",
        "steps = [",
    ]
    lines += [f'  {{ exec = {{ cmd = ["echo", "{i}"] }} }},' for i in range(commands)]
    lines += ["]", ""]
    os.makedirs(rundir, exist_ok=True)
    config = f"{rundir}/deploy.toml"
    with open(config, "w") as f:
        f.write("\n".join(lines))

    def verify(stdout, stderr, code):
        if code == 0:
            return True, ""
        return False, f"exit {code}; {tail(stderr)}"
    return [s["deploy"], "-q", "--config", config, "run", "bench", "t", *extra], verify, None


OPENSSH_SCRIPT = r"""
set -u
ctl=$1; shift; n=$1; shift
opts=()
while [ "$1" != -- ]; do opts+=("$1"); shift; done; shift
one() {
  local h=$1 i out
  if ! ssh "${opts[@]}" -o ControlMaster=yes -o ControlPersist=yes -o ControlPath="$ctl/%C" -f -N "$h" </dev/null >/dev/null 2>>"$ctl/err.$h"; then
    echo "fail $h master"; return
  fi
  for ((i = 0; i < n; i++)); do
    if out=$(ssh "${opts[@]}" -o ControlMaster=no -o ControlPath="$ctl/%C" "$h" echo $i </dev/null 2>>"$ctl/err.$h") && [ "$out" = "$i" ]; then
      echo "ok1 $h $i"
    else
      echo "fail $h $i"
    fi
  done
  ssh "${opts[@]}" -o ControlPath="$ctl/%C" -O exit "$h" 2>/dev/null
}
for h; do one "$h" & done
wait
"""


CONTROL_DIR = f"/tmp/dbcm{os.getpid()}"


def tool_openssh(s, sshd, count, rundir):
    # A short directory: a ControlPath must fit a unix socket's 108 bytes.
    ctl = CONTROL_DIR
    shutil.rmtree(ctl, ignore_errors=True)
    os.makedirs(ctl)
    argv = ["bash", "-c", OPENSSH_SCRIPT, "openssh", ctl, str(COMMANDS),
            *ssh_options(s, sshd), "--", *addresses(count)]

    def verify(stdout, stderr, code):
        got = len(re.findall(r"^ok1 ", stdout, re.M))
        expected = count * COMMANDS
        if code == 0 and got == expected:
            return True, ""
        fails = re.findall(r"^fail .*$", stdout, re.M)[:3]
        return False, f"{got}/{expected} commands ok; {fails}"
    return argv, verify, None


def driver_conf(s, sshd, count, rundir, name, wrap=False):
    os.makedirs(rundir, exist_ok=True)
    conf = f"{rundir}/{name}.json"
    with open(conf, "w") as f:
        json.dump({"hosts": addresses(count), "port": sshd.port, "user": s["user"],
                   "key": s["key"], "known_hosts": sshd.known_hosts, "commands": COMMANDS,
                   "wrap": wrap}, f)
    return conf


def tool_fabric(s, sshd, count, rundir):
    conf = driver_conf(s, sshd, count, rundir, "fabric")
    argv = [f"{s['venv']}/bin/python", os.path.abspath(__file__), "fabric", conf]
    return argv, count_verify(count * COMMANDS), None


def tool_pssh(s, sshd, count, rundir, wrap=False):
    conf = driver_conf(s, sshd, count, rundir, "pssh", wrap=wrap)
    argv = [f"{s['venv']}/bin/python", os.path.abspath(__file__), "pssh", conf]
    return argv, count_verify(count * COMMANDS), None


def tool_pyinfra(s, sshd, count, rundir):
    os.makedirs(rundir, exist_ok=True)
    data = {"ssh_port": sshd.port, "ssh_user": s["user"], "ssh_key": s["key"],
            "ssh_known_hosts_file": sshd.known_hosts, "ssh_strict_host_key_checking": "yes",
            "ssh_allow_agent": False, "ssh_look_for_keys": False,
            "ssh_config_file": "/dev/null"}
    with open(f"{rundir}/inventory.py", "w") as f:
        f.write(f"hosts = [(h, {data!r}) for h in {addresses(count)!r}]\n")
    with open(f"{rundir}/commands.py", "w") as f:
        f.write("from pyinfra.operations import server\n")
        for i in range(COMMANDS):
            f.write(f"server.shell(name='echo {i}', commands=['echo {i}'])\n")
    argv = [f"{s['venv']}/bin/pyinfra", "-y", "inventory.py", "commands.py"]

    def verify(stdout, stderr, code):
        # The results table: one row per operation, "Success" = hosts it ran on.
        text = stdout + stderr
        if code != 0:
            return False, f"exit {code}; {tail(text)}"
        rows = re.findall(r"^\s*echo (\d+)\s+(\d+)\s+(\d+|-)\s+(\d+|-)", text, re.M)
        ran = {}
        for op, _hosts, success, _ in rows:
            ran[op] = 0 if success == "-" else int(success)
        total = sum(ran.values())
        if len(ran) == COMMANDS and total == count * COMMANDS:
            return True, ""
        return False, f"results table shows {total}/{count * COMMANDS}; {tail(text)}"
    return argv, verify, None


def tool_ansible(s, sshd, count, rundir):
    os.makedirs(rundir, exist_ok=True)
    with open(f"{rundir}/inventory.ini", "w") as f:
        f.write("[bench]\n")
        for a in addresses(count):
            f.write(f"{a} ansible_port={sshd.port}\n")
        f.write("[bench:vars]\n")
        f.write(f"ansible_user={s['user']}\n")
        f.write(f"ansible_ssh_private_key_file={s['key']}\n")
        f.write("ansible_ssh_common_args='-F /dev/null -o IdentitiesOnly=yes "
                f"-o UserKnownHostsFile={sshd.known_hosts} -o GlobalKnownHostsFile=/dev/null "
                "-o StrictHostKeyChecking=yes'\n")
        f.write("ansible_python_interpreter=/usr/bin/python3\n")
    with open(f"{rundir}/ansible.cfg", "w") as f:
        f.write(f"[defaults]\nforks = {count}\nhost_key_checking = True\ninventory = inventory.ini\n"
                f"retry_files_enabled = False\nlocal_tmp = {rundir}/tmp\n"
                f"[ssh_connection]\npipelining = True\ncontrol_path_dir = {rundir}/cp\n")
    with open(f"{rundir}/play.yml", "w") as f:
        f.write("- hosts: bench\n  gather_facts: false\n  tasks:\n")
        for i in range(COMMANDS):
            f.write(f"    - name: echo {i}\n      ansible.builtin.command: echo {i}\n")
    env = {"ANSIBLE_CONFIG": f"{rundir}/ansible.cfg", "ANSIBLE_HOME": f"{rundir}/home",
           "ANSIBLE_NOCOLOR": "1"}
    argv = [f"{s['venv']}/bin/ansible-playbook", "play.yml"]

    def verify(stdout, stderr, code):
        recap = re.findall(r"^127\.0\.0\.\d+\s*:\s*ok=(\d+)\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)",
                           stdout, re.M)
        ok = sum(int(r[0]) for r in recap)
        if code == 0 and len(recap) == count and ok == count * COMMANDS:
            return True, ""
        return False, f"exit {code}, recap ok={ok}/{count * COMMANDS}; {tail(stderr or stdout)}"
    return argv, verify, env


TOOLS = [
    ("deploy", tool_deploy),
    ("OpenSSH ControlMaster", tool_openssh),
    ("Fabric ThreadingGroup", tool_fabric),
    ("parallel-ssh", tool_pssh),
    ("pyinfra", tool_pyinfra),
    ("Ansible", tool_ansible),
]
PACKAGE_OF = {"Fabric ThreadingGroup": "fabric", "parallel-ssh": "parallel-ssh",
              "pyinfra": "pyinfra", "Ansible": "ansible-core"}


# --------------------------------------------------------------------------
# Drivers (run as their own program by the venv's python)

def drive_fabric(conf):
    import paramiko
    from fabric import Config, ThreadingGroup
    from fabric.exceptions import GroupException
    c = json.load(open(conf))
    config = Config(overrides={"load_ssh_configs": False})
    group = ThreadingGroup(*c["hosts"], user=c["user"], port=c["port"], config=config,
                           connect_kwargs={"key_filename": c["key"], "look_for_keys": False,
                                           "allow_agent": False})
    for conn in group:
        conn.client.load_host_keys(c["known_hosts"])
        conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    ok, errors = 0, []
    for i in range(c["commands"]):
        try:
            results = group.run(f"echo {i}", hide=True)
        except GroupException as e:
            results = e.result
        for conn, r in results.items():
            if isinstance(r, Exception):
                errors.append(f"{conn.host}: {type(r).__name__}: {r}")
            elif r.exited == 0 and r.stdout.strip() == str(i):
                ok += 1
    group.close()
    for e in errors[:5]:
        print("error", e)
    print(f"ok {ok}")
    print(f"failed {len(errors)}")
    return 0 if not errors else 1


def drive_pssh(conf):
    from pssh.clients import ParallelSSHClient
    c = json.load(open(conf))
    # parallel-ssh's native client has no host-key verification to turn on.
    client = ParallelSSHClient(c["hosts"], user=c["user"], port=c["port"], pkey=c["key"],
                               allow_agent=False, identity_auth=False)
    ok, errors = 0, []
    for i in range(c["commands"]):
        command = f"echo {i}"
        if c.get("wrap"):
            # The command line deploy-ssh sends for `echo N` (deploy-ssh/src/target.rs):
            # the shell's pid (its process group) first, so a timeout can kill the group.
            command = f"printf '@@deploy-pgid %s\\n' \"$$\" >&2; echo {i}"
        output = client.run_command(command, stop_on_errors=False)
        client.join(output)
        for o in output:
            if o.exception is not None:
                errors.append(f"{o.host}: {type(o.exception).__name__}: {o.exception}")
                continue
            lines = list(o.stdout or [])
            if o.exit_code == 0 and lines == [str(i)]:
                ok += 1
    for e in errors[:5]:
        print("error", e)
    print(f"ok {ok}")
    print(f"failed {len(errors)}")
    return 0 if not errors else 1


# --------------------------------------------------------------------------
# Report helpers

def fmt_stats(values, unit="", digits=2):
    if not values:
        return "—"
    med = statistics.median(values)
    return f"{med:.{digits}f}{unit} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def package_versions(s):
    out = subprocess.run([f"{s['venv']}/bin/pip", "list", "--format=json"],
                         capture_output=True, text=True).stdout
    have = {p["name"].lower(): p["version"] for p in json.loads(out or "[]")}
    return have


def first_line(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "not available"


# --------------------------------------------------------------------------
# Workload A

def workload_a(s, sshd, have):
    runs, sizes = s["runs"], s["sizes"]
    print("## Workload A: 10 commands (`echo N`, each its own channel and exit status) on each of H hosts\n")
    print(f"{runs} runs per cell; figures are median (min–max). Client CPU = user+sys of the tool's whole "
          "process tree; sshd CPU = user+sys of the sshd master and every process under it "
          "(per-connection sshd and the remote shells) over the same run. "
          f"'wall ÷ CPU/{os.cpu_count()}' = wall / ((client+sshd CPU) / cores): 1.0 means the run kept "
          "every core busy. Peak RSS: the largest single process of the tool. Other CPU: what the rest of the "
          "machine used during the run (other sessions' work on this shared machine, and this harness); "
          "each run starts once under half a core is busy over 1 s, or after waiting 60 s.\n")
    rows = []
    for count in sizes:
        tools = [(n, f) for n, f in TOOLS
                 if not (n == "Ansible" and count > 50)
                 and (n not in PACKAGE_OF or PACKAGE_OF[n] in have)
                 and (not os.environ.get("BENCH_TOOLS") or slug(n) in os.environ["BENCH_TOOLS"].split(","))]
        eprint(f"bench: workload A, {count} hosts (load {loadavg()})")
        check_deploy(s, sshd, count)
        results = {n: [] for n, _ in tools}
        for r in range(runs):
            k = r % max(1, len(tools))
            order = tools[k:] + tools[:k]
            for name, make in order:
                rundir = f"{s['work']}/a/{count}/{slug(name)}/{r}"
                argv, verify, env = make(s, sshd, count, rundir)
                res = run_program(s, argv, rundir, verify, env=env, sshd=sshd)
                results[name].append(res)
                eprint(f"bench:   {name:22} H={count:<3} run {r + 1}: "
                       + (f"{res.wall:.2f}s wall, {res.client:.2f}s client, {res.sshd:.2f}s sshd"
                          if res.ok else f"FAILED ({res.note})"))
                shutil.rmtree(CONTROL_DIR, ignore_errors=True)
                if os.environ.get("BENCH_KEEP") is None:
                    shutil.rmtree(rundir, ignore_errors=True)
        rows.append((count, f"{loadavg()}", results))
    print(f"| H | tool | ok runs | wall s | client CPU s | sshd CPU s | wall ÷ CPU/{os.cpu_count()} | peak RSS MB | other CPU s |")
    print("|---|---|---|---|---|---|---|---|---|")
    failures = []
    for count, _, results in rows:
        for name, res in results.items():
            good = [r for r in res if r.ok]
            ratio = [r.wall / ((r.client + r.sshd) / os.cpu_count()) for r in good]
            print(f"| {count} | {name} | {len(good)}/{len(res)} | {fmt_stats([r.wall for r in good])} | "
                  f"{fmt_stats([r.client for r in good])} | {fmt_stats([r.sshd for r in good])} | "
                  f"{fmt_stats(ratio)} | {max((r.rss_mb for r in good), default=0):.0f} | "
                  f"{fmt_stats([r.other for r in res])} |")
            failures += [(count, name, r.note) for r in res if not r.ok]
    print()
    for count, name, note in failures:
        print(f"- FAILED run: {name} at H={count}: {note}")
    for n, _ in TOOLS:
        if n in PACKAGE_OF and PACKAGE_OF[n] not in have:
            print(f"- {n}: not measured ({PACKAGE_OF[n]} is not installed)")
    if failures:
        print()


def diagnostics(s, sshd):
    """Where deploy's time goes at the largest H: the executor bound lifted,
    connecting alone, and deploy-ssh's remote command line under another
    client. Not a comparison between tools."""
    count, runs = max(s["sizes"]), s["runs"]
    print(f"## Diagnostics at H = {count} (where deploy's time goes; not a comparison)\n")
    print("- `deploy, 1 step`: the same run with one `exec` step instead of 10: connecting, authenticating "
          "and one command per host.")
    print(f"- `deploy --concurrency {count}`: the executor's default bound of 64 steps in flight lifted.")
    print("- `parallel-ssh, deploy's command line`: parallel-ssh sending each `echo N` wrapped as "
          "deploy-ssh sends them (`printf '@@deploy-pgid %s\\n' \"$$\" >&2; echo N`), to show "
          "what the wrapper costs the sshd side with the client held fixed.\n")
    cases = [
        ("deploy (10 steps, defaults)", lambda d: tool_deploy(s, sshd, count, d)),
        ("deploy, 1 step", lambda d: tool_deploy(s, sshd, count, d, commands=1)),
        (f"deploy --concurrency {count}", lambda d: tool_deploy(s, sshd, count, d, extra=("--concurrency", str(count)))),
        ("parallel-ssh (plain `echo N`)", lambda d: tool_pssh(s, sshd, count, d)),
        ("parallel-ssh, deploy's command line", lambda d: tool_pssh(s, sshd, count, d, wrap=True)),
    ]
    results = {name: [] for name, _ in cases}
    for r in range(runs):
        for name, make in cases:
            rundir = f"{s['work']}/diag/{slug(name)}/{r}"
            argv, verify, env = make(rundir)
            if "1 step" in name:
                verify = lambda out, err, code: (code == 0, "" if code == 0 else f"exit {code}; {tail(err)}")
            res = run_program(s, argv, rundir, verify, env=env, sshd=sshd)
            results[name].append(res)
            eprint(f"bench:   diag {name:38} run {r + 1}: "
                   + (f"{res.wall:.2f}s wall, {res.client:.2f}s client, {res.sshd:.2f}s sshd"
                      if res.ok else f"FAILED ({res.note})"))
            shutil.rmtree(rundir, ignore_errors=True)
    print(f"| case | ok runs | wall s | client CPU s | sshd CPU s | wall ÷ CPU/{os.cpu_count()} | other CPU s |")
    print("|---|---|---|---|---|---|---|")
    for name, res in results.items():
        good = [r for r in res if r.ok]
        ratio = [r.wall / ((r.client + r.sshd) / os.cpu_count()) for r in good]
        print(f"| {name} | {len(good)}/{len(res)} | {fmt_stats([r.wall for r in good])} | "
              f"{fmt_stats([r.client for r in good])} | {fmt_stats([r.sshd for r in good])} | "
              f"{fmt_stats(ratio)} | {fmt_stats([r.other for r in res])} |")
    print()


def slug(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def check_deploy(s, sshd, count):
    """One untimed `deploy run --json`: every step finished on every host with
    the expected output line; how long step 1 (connect + first command) and
    the other steps took."""
    rundir = f"{s['work']}/a/{count}/deploy-check"
    argv, _, _ = tool_deploy(s, sshd, count, rundir)
    argv = [a for a in argv if a != "-q"] + ["--json"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    finished, outputs, first, rest = 0, 0, [], []
    for line in p.stdout.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") == "step-finished":
            finished += 1
            (first if e["step"].endswith(".1") else rest).append(e["elapsed_ms"])
        elif e.get("event") == "output" and e.get("stream") == "stdout":
            outputs += 1
    steps = {json.loads(l)["step"] for l in p.stdout.splitlines()
             if l.startswith("{") and '"step-finished"' in l}
    note = (f"deploy --json check at H={count}: exit {p.returncode}, {finished}/{count * COMMANDS} "
            f"steps finished ({len(steps)} distinct steps), {outputs} stdout lines; "
            f"step 1 (connect + command) {fmt_stats([x / 1000 for x in first], ' s', 3)}, "
            f"steps 2-10 {fmt_stats([x / 1000 for x in rest], ' s', 3)}")
    CHECKS.append(note)
    eprint("bench:   " + note)
    shutil.rmtree(rundir, ignore_errors=True)


CHECKS = []


# --------------------------------------------------------------------------
# What each tool negotiated

def kex_check(s, sshd2, have):
    """Each tool once against one host of the second sshd (LogLevel DEBUG1),
    reading what sshd says was negotiated."""
    print("## Key exchange and cipher each tool negotiated\n")
    print("Each tool once, on one host of the second sshd (LogLevel DEBUG1), from sshd's own "
          "`kex:` log lines.\n")
    print("| tool | key exchange | host key | cipher (client→server) | MAC |")
    print("|---|---|---|---|---|")
    small = f"{s['work']}/kex-src"
    os.makedirs(small, exist_ok=True)
    with open(f"{small}/file", "w") as f:
        f.write("x\n")

    def rsync_tool(s, sshd, count, rundir):
        argv = ["rsync", "-a", "-e", " ".join(["ssh", *ssh_options(s, sshd)]), f"{small}/",
                f"{s['user']}@127.0.0.2:{rundir}/dest/"]
        return argv, lambda out, err, code: (code == 0, "" if code == 0 else tail(err)), None

    tools = [(n, f) for n, f in TOOLS if n not in PACKAGE_OF or PACKAGE_OF[n] in have]
    if shutil.which("rsync"):
        tools.append(("rsync -a over ssh", rsync_tool))
    for name, make in tools:
        rundir = f"{s['work']}/kex/{slug(name)}"
        argv, verify, env = make(s, sshd2, 1, rundir)
        before = len(sshd2.log_lines())
        res = run_program(s, argv, rundir, verify, env=env, sshd=sshd2)
        text = "\n".join(sshd2.log_lines()[before:])
        shutil.rmtree(CONTROL_DIR, ignore_errors=True)
        shutil.rmtree(rundir, ignore_errors=True)
        kex = sorted(set(re.findall(r"kex: algorithm: (\S+)", text)))
        hostkey = sorted(set(re.findall(r"kex: host key algorithm: (\S+)", text)))
        cipher = sorted(set(re.findall(r"kex: client->server cipher: (\S+)", text)))
        mac = sorted(set(re.findall(r"kex: client->server cipher: \S+ MAC: (\S+)", text)))
        status = "" if res.ok else f" (run failed: {res.note})"
        def cell(values):
            return ", ".join(f"`{v}`" for v in values) or "?"
        print(f"| {name}{status} | {cell(kex)} | {cell(hostkey)} | {cell(cipher)} | {cell(mac)} |")
    shutil.rmtree(small, ignore_errors=True)
    print()


# --------------------------------------------------------------------------
# Burst run against sshd's default MaxStartups

def workload_burst(s, sshd2, have):
    count = 50
    print(f"## Burst: {count} hosts against an sshd with the default MaxStartups (10:30:100)\n")
    print("One run each, on the second sshd: the same config but MaxStartups left at its default and "
          "LogLevel DEBUG1. 'dropped by sshd' = sshd's own log lines `drop connection ... past "
          "MaxStartups` during the run; 'commands ok' = commands that ran and answered. "
          "parallel-ssh retries a failed connection (3 tries, 5 s apart by default); deploy retries one that sshd reset before the SSH banner (after 0.1-0.8 s); Fabric does not.\n")
    print("| tool | exit | wall s | commands ok | hosts failed | dropped by sshd |")
    print("|---|---|---|---|---|---|")
    tools = [("deploy", tool_deploy), ("parallel-ssh", tool_pssh), ("Fabric ThreadingGroup", tool_fabric)]
    notes = []
    for name, make in tools:
        if name in PACKAGE_OF and PACKAGE_OF[name] not in have:
            print(f"| {name} | not installed | | | | |")
            continue
        rundir = f"{s['work']}/burst/{slug(name)}"
        argv, verify, env = make(s, sshd2, count, rundir)
        before = len(sshd2.log_lines())
        res = run_program(s, argv, rundir, verify, env=env, sshd=sshd2)
        new = sshd2.log_lines()[before:]
        dropped = sum(1 for l in new if "past MaxStartups" in l)
        if name == "deploy":
            failed_hosts = len(set(re.findall(r"127\.0\.0\.\d+:\d+", res.stderr))) if res.code else 0
            ok_cmds = "all" if res.ok else f"{count - failed_hosts} hosts fully"
        else:
            m = re.search(r"^ok (\d+)$", res.stdout, re.M)
            ok_cmds = f"{int(m.group(1)) if m else 0}/{count * COMMANDS}"
            failed_hosts = len(set(re.findall(r"^error (127\.0\.0\.\d+)", res.stdout, re.M)))
        print(f"| {name} | {res.code} | {res.wall:.2f} | {ok_cmds} | {failed_hosts} | {dropped} |")
        if not res.ok:
            notes.append(f"- {name}: {res.note}")
        eprint(f"bench:   burst {name}: exit {res.code}, {res.wall:.2f}s, dropped {dropped}; {res.note}")
        shutil.rmtree(rundir, ignore_errors=True)
    print()
    for n in notes:
        print(n)
    if notes:
        print()


# --------------------------------------------------------------------------
# Workload B: directory sync

def tree_files():
    """The seeded tree: relative path -> size. 5,000 files in 500 leaf
    directories four levels deep, sizes exponential around 10 kB, scaled to
    50,000,000 bytes in all."""
    rng = random.Random(TREE_SEED)
    raw = [rng.expovariate(1 / 10_000) + 1 for _ in range(TREE_FILES)]
    scale = TREE_BYTES / sum(raw)
    sizes = [max(1, int(x * scale)) for x in raw]
    sizes[-1] += TREE_BYTES - sum(sizes)
    paths = [f"a{n % 10}/b{(n // 10) % 10}/c{(n // 100) % 5}/f{n:04d}.dat" for n in range(TREE_FILES)]
    return dict(zip(paths, sizes))


def make_tree(root):
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(TREE_SEED + 1)
    for path, size in tree_files().items():
        full = f"{root}/{path}"
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(rng.randbytes(size))
        os.utime(full, (TREE_MTIME, TREE_MTIME))
    for dirpath, _, _ in os.walk(root):
        os.utime(dirpath, (TREE_MTIME, TREE_MTIME))


def change_files(root, batch):
    """Rewrites 10 files (same size, new bytes, a new mtime)."""
    paths = sorted(tree_files())
    rng = random.Random(TREE_SEED + 100 + batch)
    changed = []
    for j in range(10):
        path = paths[(batch * 10 + j) * 37 % len(paths)]
        full = f"{root}/{path}"
        size = os.path.getsize(full)
        with open(full, "wb") as f:
            f.write(rng.randbytes(size))
        t = TREE_MTIME + 1000 * (batch + 1)
        os.utime(full, (t, t))
        changed.append(path)
    return changed


def digest_tree(root):
    result = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as f:
                result[os.path.relpath(full, root)] = hashlib.sha1(f.read()).hexdigest()
    return result


def workload_b(s, sshd):
    runs = s["runs"]
    work = f"{s['work']}/sync"
    tree = f"{work}/tree"
    aside = f"{work}/aside"
    os.makedirs(aside, exist_ok=True)
    eprint("bench: workload B: making the seeded tree")
    make_tree(tree)
    total = sum(tree_files().values())
    host = f"127.0.0.2:{sshd.port}"
    ssh_e = " ".join(["ssh", *ssh_options(s, sshd)])

    def deploy_tool(dest):
        config = f"{work}/deploy-sync.toml"
        with open(config, "w") as f:
            f.write(f'[ssh]\nuser = "{s["user"]}"\nidentity_files = ["{s["key"]}"]\n'
                    f'known_hosts = "{sshd.known_hosts}"\nhost_keys = "strict"\n\n'
                    f'[environments.one]\nhosts = ["{host}"]\n\n'
                    f'[tasks.s]\nsteps = [{{ sync = {{ from = "{tree}", to = "{dest}" }} }}]\n')
        return [s["deploy"], "-q", "--config", config, "run", "one", "s"]

    def rsync_tool(dest):
        return ["rsync", "-a", "-e", ssh_e, f"{tree}/", f"{s['user']}@127.0.0.2:{dest}/"]

    def tar_tool(dest):
        return ["bash", "-c", f'tar -C {tree} -cf - . | {ssh_e} 127.0.0.2 "mkdir -p {dest} && tar -C {dest} -xf -"']

    def sftp_tool(dest):
        # OpenSSH's scp speaks the SFTP protocol (the default since 9.0; -s makes it explicit):
        # the best-tuned SFTP client at hand, for "tar over an exec channel or SFTP".
        # scp spells the port -P and has no -l user (its -l is a bandwidth limit).
        options = [{"-p": "-P", "-l": "-o"}.get(o, o) for o in ssh_options(s, sshd)]
        options = [f"User={o}" if o == s["user"] and options[i - 1] == "-o" else o
                   for i, o in enumerate(options)]
        return ["scp", "-s", "-q", "-r", "-p", *options, tree, f"127.0.0.2:{dest}"]

    tools = [("deploy", deploy_tool), ("rsync -a over ssh", rsync_tool)]
    first_only = [("tar -c piped to ssh tar -x", tar_tool), ("scp -r over SFTP (scp -s)", sftp_tool)]
    if shutil.which("rsync") is None:
        tools = tools[:1]
    dests = {name: f"{work}/dest-{slug(name)}" for name, _ in tools + first_only}
    results = {}
    kept = {}

    def verify_dest(dest):
        def verify(stdout, stderr, code):
            if code != 0:
                return False, f"exit {code}; {tail(stderr)}"
            want, got = kept["digest"], digest_tree(dest)
            if want != got:
                missing = len(set(want) - set(got))
                differ = sum(1 for k in want if k in got and want[k] != got[k])
                return False, f"destination differs: {missing} missing, {differ} different"
            return True, ""
        return verify

    def one(phase, name, make, r):
        dest = dests[name]
        if phase == "first copy" and os.path.exists(dest):
            os.rename(dest, f"{aside}/{slug(name)}-{r}")
        rundir = f"{work}/runs/{slug(name)}-{slug(phase)}-{r}"
        res = run_program(s, make(dest), rundir, verify_dest(dest), sshd=sshd)
        results.setdefault((phase, name), []).append(res)
        eprint(f"bench:   {name:36} {phase:13} run {r + 1}: "
               + (f"{res.wall:.2f}s wall, {res.client:.2f}s client, {res.sshd:.2f}s sshd"
                  if res.ok else f"FAILED ({res.note})"))
        shutil.rmtree(rundir, ignore_errors=True)

    kept["digest"] = digest_tree(tree)
    for r in range(runs):
        for name, make in (tools + first_only) if r % 2 == 0 else list(reversed(tools + first_only)):
            one("first copy", name, make, r)
    for r in range(runs):
        for name, make in tools if r % 2 == 0 else list(reversed(tools)):
            one("no change", name, make, r)
    for r in range(runs):
        change_files(tree, r)
        kept["digest"] = digest_tree(tree)
        for name, make in tools if r % 2 == 0 else list(reversed(tools)):
            one("10 changed", name, make, r)
    shutil.rmtree(aside, ignore_errors=True)
    for dest in dests.values():
        shutil.rmtree(dest, ignore_errors=True)

    print(f"## Workload B: sync a seeded {TREE_FILES:,}-file, {total / 1e6:.1f} MB tree to one host\n")
    print("Tree: 500 directories four levels deep (a*/b*/c*/), sizes exponential around 10 kB, random "
          "(incompressible) bytes, fixed mtimes; 10 changed = 10 files rewritten (same size, new bytes, "
          "new mtime) before each run. Before each first copy the previous destination is renamed "
          "aside (deleted after all runs). Every run's destination is compared file by file "
          f"(SHA-1) with the source. {runs} runs, median (min–max).\n")
    print("| sync | tool | ok runs | wall s | client CPU s | sshd CPU s | peak RSS MB | other CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for (phase, name), res in results.items():
        good = [r for r in res if r.ok]
        print(f"| {phase} | {name} | {len(good)}/{len(res)} | {fmt_stats([r.wall for r in good], digits=3)} | "
              f"{fmt_stats([r.client for r in good], digits=3)} | {fmt_stats([r.sshd for r in good], digits=3)} | "
              f"{max((r.rss_mb for r in good), default=0):.0f} | {fmt_stats([r.other for r in res], digits=3)} |")
    print()
    for (phase, name), res in results.items():
        for r in res:
            if not r.ok:
                print(f"- FAILED run: {name}, {phase}: {r.note}")
    shutil.rmtree(tree, ignore_errors=True)


# --------------------------------------------------------------------------

def bench(settings, flags):
    s = json.load(open(settings))
    sshd, sshd2 = Sshd(s["sshd"]), Sshd(s["sshd2"])
    have = package_versions(s)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    print("# SSH fan-out and sync (bench/ssh.sh)\n")
    print(f"- date: {started}")
    print(f"- machine: {os.cpu_count()} cores ({first_line(['uname', '-srm'])}), "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
          f"load average at start {loadavg()}")
    print(f"- CPU accounting: {'cpuacct cgroups (v1)' if s['cgroup'] else 'wait4() rusage and /proc sums'}")
    print(f"- sshd: {first_line(['/usr/sbin/sshd', '-V'])}; KexAlgorithms {s['kex']} (the same "
          "curve25519 exchange for every tool; paramiko knows only the @libssh.org name); "
          "host key and user key ed25519; MaxStartups 1000:30:2000, MaxSessions 200, "
          "one known_hosts with [127.0.0.N]:PORT for N = 2..201 given to every tool, strict checking "
          "where the tool has it (parallel-ssh has none)")
    print(f"- deploy: {first_line([s['deploy'], '--version'])} ({s['deploy']}), defaults: "
          "8 handshakes in flight (DEFAULT_HANDSHAKES), executor concurrency 64")
    head = first_line(["git", "-C", s["root"], "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", s["root"], "status", "--porcelain", "--", "deploy-core", "deploy-ssh",
                            "deploy-cli", "Cargo.toml", "Cargo.lock"], capture_output=True, text=True).stdout
    print(f"- source: commit {head}" + (" plus uncommitted changes in the crates" if dirty.strip() else
                                        ", crates unmodified"))
    print(f"- OpenSSH client: {first_line(['ssh', '-V'])}; rsync: {first_line(['rsync', '--version'])}")
    versions = ", ".join(f"{p} {have.get(p, 'NOT INSTALLED')}" for p in
                         ("fabric", "paramiko", "ansible-core", "pyinfra", "parallel-ssh", "ssh2-python"))
    print(f"- Python peers ({first_line([s['venv'] + '/bin/python', '--version'])}): {versions}")
    print("- how each tool runs the 10 commands: deploy: a deploy.toml task of 10 `exec` steps, "
          "`deploy -q run`; OpenSSH: per host (all hosts in parallel) `ssh -fN` a ControlMaster with "
          "ControlPersist=yes, 10 `ssh host echo N` through it, `ssh -O exit`; Fabric: "
          "ThreadingGroup.run 10 times; parallel-ssh: ParallelSSHClient.run_command + join 10 times; "
          "pyinfra: `pyinfra -y` with 10 `server.shell` operations; Ansible: `ansible-playbook`, one "
          "play of 10 `ansible.builtin.command` tasks (a Python module run on the host per task)")
    print("- settings not at their defaults: Ansible forks = H, pipelining on, gather_facts off, "
          "its ControlPersist sockets in a fresh directory per run (masters ended after each run, "
          "their CPU counted); every other tool at its defaults (parallel-ssh pool_size 100, "
          "pyinfra all hosts at once, Fabric one thread per host)")
    for m in s["missing"]:
        print(f"- NOT INSTALLED: {m}")
    print()
    sys.stdout.flush()
    workload_a(s, sshd, have)
    if "--skip-diagnostics" not in flags and "parallel-ssh" in have:
        eprint("bench: diagnostics")
        diagnostics(s, sshd)
    if "--skip-maxstartups" not in flags:
        eprint("bench: which key exchange each tool negotiates")
        kex_check(s, sshd2, have)
        eprint("bench: burst run against the default MaxStartups")
        workload_burst(s, sshd2, have)
    if "--skip-sync" not in flags:
        workload_b(s, sshd)
    if CHECKS:
        print("## Checks\n")
        for c in CHECKS:
            print(f"- {c}")
        print()
    print(f"Finished {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; load average {loadavg()}.")


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    mode, arg = sys.argv[1], sys.argv[2]
    if mode == "bench":
        bench(arg, sys.argv[3:])
        return 0
    if mode == "fabric":
        return drive_fabric(arg)
    if mode == "pssh":
        return drive_pssh(arg)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
