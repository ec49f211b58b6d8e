"""netns.py - a LAN of simulated hosts for integration tests, built from
Linux network namespaces. Standard library only; needs root and iproute2.

    import netns
    netns.enter_sandbox()           # first thing in the test (see below)
    netns.require_root_or_skip()
    lan = netns.make_lan(3)         # hosts 1..3 on one switch
    p = lan.run(1, [audiobus, "broker", "--bind", "tcp://%s:5550" % lan.host(1).addr], "broker.log")
    lan.cut(3); ...; lan.restore(3)  # pull host 3's cable, plug it back
    lan.teardown()                  # also runs at exit and on SIGTERM

The LAN
-------
One switch namespace `<prefix>-sw` holds a bridge `br0`; each host is a
namespace `<prefix>-h<i>` whose `eth0` is one end of a veth pair, the other
end (`h<i>`) being a port of the bridge. Hosts get 10.213.X.i/24, X derived
from the PID, so two tests never share names or addresses. A cut is the
switch port going down: the host's eth0 loses carrier, like a pulled cable,
and nothing in the host is told otherwise. Every process started with
`lan.run` also gets a UTS namespace of its own whose hostname is the host's
namespace name, so the nodes of different hosts report different hosts.

Cleanup: the sandbox
--------------------
`enter_sandbox()` runs the calling script again, as a child, under

    unshare --net --mount --pid --fork --kill-child --mount-proc

and, inside, makes every mount private and mounts a tmpfs on /run/netns, so
`ip netns add` creates its namespace files where only this test sees them.
The test's own namespace then has nothing but a loopback that is down: no
packet of the test can leave the machine, even by mistake, and addresses of
the private /24 reach only the simulated hosts. Cleanup no longer depends
on the test getting to run its handlers: when the test ends in any way,
every process of the test is gone, its mount namespace with them, and with
it the last reference to every network namespace, veth and bridge it made.
The first process stays outside as a supervisor and returns the sandboxed
test's exit status (77 = skipped). Even SIGKILL of the supervisor alone (a
CTest timeout kills the whole tree anyway) cleans up: unshare gets SIGKILL
when its parent dies (a parent-death signal), and its death kills the
sandbox's first process (--kill-child) and with it the whole PID namespace.
unshare ignores SIGTERM, so the supervisor passes a SIGTERM on to the test
inside, and kills unshare if the test has not ended 5 s later. `teardown()`
(registered with atexit and as the SIGTERM handler) stops processes and
deletes the namespaces in order, so a LAN can be torn down and built again in
one run, and a terminated test still reports.

Without the sandbox (a script that does not call enter_sandbox), the
namespaces live in the system's /run/netns under the same unique prefix, and
make_lan first deletes namespaces of that naming pattern left by an earlier
run whose process is gone (killing what still runs in them).

The only mark left on the system is the empty directory /run/netns, which
any use of `ip netns` creates.
"""
import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import time

SKIP = 77
SKIP_MESSAGE = "skipped: needs root to create network namespaces"
_ENV_SANDBOX = "AB_NETNS_SANDBOX"    # set to the outer PID inside the sandbox
_NETNS_DIR = "/run/netns"
_NAME_RE = re.compile(r"^ab(\d+)(?:-\d+)?-(?:sw|h\d+)$")

_lans = []
_lan_count = 0
_handlers_installed = False
_mounted = False


def _skip(reason):
    print("%s (%s)" % (SKIP_MESSAGE, reason), flush=True)
    sys.exit(SKIP)


def _ip(*args, check=True, timeout=10):
    p = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise RuntimeError("ip %s failed: %s" % (" ".join(args), p.stderr.strip()))
    return p


def run_id():
    """The PID that names this run: the test's PID outside the sandbox (inside
    it, the test is PID 1 of its own PID namespace)."""
    return int(os.environ.get(_ENV_SANDBOX) or os.getpid())


def in_sandbox():
    return bool(os.environ.get(_ENV_SANDBOX))


def enter_sandbox():
    """Re-execute this script under unshare (see the top of this file); inside
    the sandbox, prepare /run/netns and return. Skips (exit 77) when not root
    or when namespaces cannot be created here."""
    global _mounted
    if in_sandbox():
        if not _mounted:
            for cmd in (["mount", "--make-rprivate", "/"],
                        ["mkdir", "-p", _NETNS_DIR],
                        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "abnetns", _NETNS_DIR]):
                p = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
                if p.returncode != 0:
                    _skip("%s: %s" % (" ".join(cmd), p.stderr.strip()))
            _mounted = True
        return
    if os.geteuid() != 0:
        _skip("not root")
    unshare = shutil.which("unshare")
    if not unshare or not shutil.which("ip"):
        _skip("unshare or ip (iproute2) not found")
    argv = [unshare, "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]
    probe = subprocess.run(argv + ["true"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if probe.returncode != 0:
        _skip("unshare: " + probe.stderr.strip())
    os.environ[_ENV_SANDBOX] = str(os.getpid())
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(_supervise(argv + [sys.executable, os.path.abspath(sys.argv[0])] + sys.argv[1:]))


def _supervise(argv):
    """Run the sandboxed copy of the test and return its exit status.
    unshare ignores SIGTERM while it waits, so a SIGTERM sent to the test is
    passed on to the test inside (it tears down and exits); if the sandbox
    has not ended 5 s later, unshare is killed, and with it (--kill-child)
    everything in the sandbox. SIGINT reaches the test inside directly (same
    process group)."""
    parent = os.getpid()

    def die_with_parent():  # in the child, before exec: unshare dies with us
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)

    proc = subprocess.Popen(argv, preexec_fn=die_with_parent)

    def inner_pids():
        try:
            with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
                return [int(w) for w in f.read().split()]
        except (OSError, ValueError):
            return []

    def on_term(signum, frame):
        for pid in inner_pids():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            status = proc.wait()
            break
        except InterruptedError:
            continue
    return status if status >= 0 else 128 - status


def require_root_or_skip():
    """Exit 77 with a clear message unless this process is root and
    `ip netns add` works here."""
    if os.geteuid() != 0:
        _skip("not root")
    if not shutil.which("ip"):
        _skip("ip (iproute2) not found")
    name = "ab%d-probe" % run_id()
    try:
        p = _ip("netns", "add", name, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        _skip("ip netns add: %s" % e)
    if p.returncode != 0:
        _skip("ip netns add: " + p.stderr.strip())
    _ip("netns", "del", name, check=False)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace_pids(name):
    p = _ip("netns", "pids", name, check=False)
    for word in p.stdout.split():
        try:
            os.kill(int(word), signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass


def _delete_namespace(name):
    _kill_namespace_pids(name)
    _ip("netns", "del", name, check=False)


def _list_namespaces():
    p = _ip("netns", "list", check=False)
    return [line.split()[0] for line in p.stdout.splitlines() if line.strip()]


def delete_stale(prefix):
    """Delete namespaces left by a crashed earlier run: those of this prefix
    that no live Lan of this process owns, and those named like ours whose
    run's process is gone (outside the sandbox; inside it, /run/netns holds
    only this run's). Returns the names deleted."""
    live = set(name for lan in _lans for name in lan.namespaces())
    deleted = []
    for name in _list_namespaces():
        m = _NAME_RE.match(name)
        if not m or name in live:
            continue
        owner = int(m.group(1))
        if name.startswith(prefix + "-") or (owner != run_id() and not _pid_alive(owner)):
            _delete_namespace(name)
            deleted.append(name)
    return deleted


class Host:
    def __init__(self, index, name, addr, port):
        self.index = index
        self.name = name          # network namespace name, also the hostname nodes see
        self.hostname = name
        self.addr = addr          # IPv4 address on the LAN
        self.port = port          # the switch port (interface in the switch namespace)

    def __repr__(self):
        return "Host(%d, %s, %s)" % (self.index, self.name, self.addr)


class Lan:
    def __init__(self, prefix, subnet, n):
        self.prefix = prefix
        self.subnet = subnet      # "10.213.X"
        self.switch = prefix + "-sw"
        self.hosts = [Host(i, "%s-h%d" % (prefix, i), "%s.%d" % (subnet, i), "h%d" % i) for i in range(1, n + 1)]
        self.procs = []
        self._logs = []
        self._made = []
        self._down = False

    def namespaces(self):
        return [self.switch] + [host.name for host in self.hosts]

    def host(self, i):
        """Host i, counted from 1."""
        if not 1 <= i <= len(self.hosts):
            raise IndexError("no host %d on a LAN of %d" % (i, len(self.hosts)))
        return self.hosts[i - 1]

    def _build(self):
        sw = self.switch
        _ip("netns", "add", sw)
        self._made.append(sw)
        _ip("-n", sw, "link", "set", "lo", "up")
        _ip("-n", sw, "link", "add", "br0", "type", "bridge")
        _ip("-n", sw, "link", "set", "br0", "up")
        for host in self.hosts:
            _ip("netns", "add", host.name)
            self._made.append(host.name)
            _ip("-n", host.name, "link", "set", "lo", "up")
            _ip("link", "add", "eth0", "netns", host.name, "type", "veth", "peer", "name", host.port, "netns", sw)
            _ip("-n", sw, "link", "set", host.port, "master", "br0")
            _ip("-n", sw, "link", "set", host.port, "up")
            _ip("-n", host.name, "addr", "add", host.addr + "/24", "dev", "eth0")
            _ip("-n", host.name, "link", "set", "eth0", "up")

    def _argv(self, i, argv):
        host = self.host(i)
        return (["ip", "netns", "exec", host.name, "unshare", "--uts", "sh", "-c",
                 'hostname "$0" && exec "$@"', host.hostname] + [str(a) for a in argv])

    def run(self, i, argv, log_path, env=None):
        """Start argv inside host i, its output (stdout and stderr) in
        log_path; returns the subprocess.Popen. Its PID is the PID of the
        program itself (each wrapper execs the next)."""
        log = open(log_path, "w")
        self._logs.append(log)
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        proc = subprocess.Popen(self._argv(i, argv), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=full_env)
        self.procs.append(proc)
        return proc

    def call(self, i, argv, timeout=30, env=None):
        """Run argv inside host i to completion: a CompletedProcess with text
        output; returncode None when it was killed after timeout seconds."""
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        args = self._argv(i, argv)
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                                  env=full_env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            def text(b):
                return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
            return subprocess.CompletedProcess(args, None, text(e.stdout), text(e.stderr))

    def cut(self, i):
        """Pull host i's cable: its switch port goes down."""
        _ip("-n", self.switch, "link", "set", self.host(i).port, "down")

    def restore(self, i, wait=3.0):
        """Plug host i's cable back in. With wait (seconds), return once both
        ends of the link are operationally up again: the kernel reports a
        carrier change up to a second late, as a real link takes a moment to
        come back. Returns whether they are."""
        host = self.host(i)
        _ip("-n", self.switch, "link", "set", host.port, "up")
        if not wait:
            return True
        return wait_until(lambda: self.link_up(i), wait, interval=0.02)

    def link_up(self, i):
        """Whether host i's link is operationally up at both ends."""
        host = self.host(i)
        return self._oper_up(self.switch, host.port) and self._oper_up(host.name, "eth0")

    @staticmethod
    def _oper_up(namespace, dev):
        p = _ip("-n", namespace, "-o", "link", "show", "dev", dev, check=False)
        return p.returncode == 0 and " state UP " in p.stdout

    def teardown(self):
        """Kill every process started on the LAN and delete its namespaces.
        Idempotent."""
        if self._down:
            return
        self._down = True
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for name in reversed(self._made):
            _delete_namespace(name)
        for log in self._logs:
            log.close()
        if self in _lans:
            _lans.remove(self)


def teardown_all():
    for lan in list(_lans):
        lan.teardown()


def _on_sigterm(signum, frame):
    print("terminated: stopping the simulated hosts", flush=True)
    teardown_all()
    sys.exit(128 + signum)


def _install_handlers():
    global _handlers_installed
    if _handlers_installed:
        return
    atexit.register(teardown_all)
    signal.signal(signal.SIGTERM, _on_sigterm)
    _handlers_installed = True


def make_lan(n):
    """Build a LAN of n hosts (1 <= n <= 200) on one switch; returns a Lan."""
    global _lan_count
    if not 1 <= n <= 200:
        raise ValueError("a LAN has 1 to 200 hosts")
    _install_handlers()
    rid = run_id()
    prefix = "ab%d" % rid if _lan_count == 0 else "ab%d-%d" % (rid, _lan_count)
    subnet = "10.213.%d" % ((rid + _lan_count) % 256)
    _lan_count += 1
    delete_stale(prefix)
    lan = Lan(prefix, subnet, n)
    _lans.append(lan)
    try:
        lan._build()
    except Exception:
        lan.teardown()
        raise
    return lan


def wait_until(predicate, timeout, interval=0.05):
    """Poll predicate until it is true or timeout seconds have passed."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
