"""Shared helpers for the end-to-end tests: the real lballoc-apiserver and lballoc-operator
binaries, driven by the real kubectl.

Each test file starts one API server (ApiServer) for all its test cases; a test case works in
its own namespace and its own address block so that cases do not see each other's pools
(every pool a case creates carries a namespaceSelector for the case's namespace).

Binaries come from the environment ctest sets (LBALLOC_OPERATOR, LBALLOC_APISERVER, KUBECTL),
else from ./build. Nothing here sleeps for a fixed time to synchronise: eventually() polls.

One file or one case by hand, keeping the logs and kubeconfig (LBALLOC_E2E_KEEP=1):
    LBALLOC_E2E_KEEP=1 /usr/bin/python3 test/e2e/test_allocation.py AllocationTest.test_sharing
"""

import atexit
import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("LBALLOC_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
OPERATOR = os.environ.get("LBALLOC_OPERATOR", os.path.join(BUILD_DIR, "operator", "lballoc-operator"))
APISERVER = os.environ.get(
    "LBALLOC_APISERVER", os.path.join(BUILD_DIR, "test", "apiserver", "lballoc-apiserver"))
KUBECTL = os.environ.get("KUBECTL", shutil.which("kubectl") or "/usr/bin/kubectl")
PROMTOOL = os.environ.get("PROMTOOL", shutil.which("promtool") or "/usr/bin/promtool")

# Short leader-election timings keep fail-over tests to seconds (API.md defaults are 15s/10s/2s).
FAST_ELECTION = [
    "--leader-elect-lease-duration=3s",
    "--leader-elect-renew-deadline=2s",
    "--leader-elect-retry-period=500ms",
]

ALLOCATED = "lballoc.io/AddressAllocated"


# Every process started here, so that none outlives the test run (atexit kills stragglers).
_PROCESSES = []


@atexit.register
def _kill_stragglers():
    for proc in _PROCESSES:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Timeout(AssertionError):
    pass


class KubectlError(subprocess.CalledProcessError):
    """A failed kubectl command; its message carries kubectl's stderr."""

    def __str__(self):
        return "%s\nstderr: %s" % (super().__str__(), (self.stderr or "").strip())


def eventually(condition, timeout=30.0, interval=0.05, what="condition"):
    """Polls condition() until it returns a truthy value, which is returned. On timeout raises
    Timeout naming `what` and the last value (or exception) seen."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = condition()
            if last:
                return last
        except (subprocess.CalledProcessError, KeyError, IndexError, ValueError) as e:
            last = e
        if time.monotonic() >= deadline:
            raise Timeout("timed out after %.0fs waiting for %s; last: %r" % (timeout, what, last))
        time.sleep(interval)


class ApiServer:
    """A lballoc-apiserver process on a free port, with a kubeconfig for kubectl and the
    operator."""

    def __init__(self, extra_args=()):
        self.dir = tempfile.mkdtemp(prefix="lballoc-e2e-")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.log_path = os.path.join(self.dir, "apiserver.log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [APISERVER, "--port=0", "--kubeconfig-out=" + self.kubeconfig] + list(extra_args),
            stdout=subprocess.PIPE, stderr=self._log, text=True)
        _PROCESSES.append(self.proc)
        # lballoc-apiserver answers in milliseconds; the real control plane (lballoc-realcluster,
        # the e2e_real_* tests) takes seconds, and more on a loaded machine.
        ready, _, _ = select.select([self.proc.stdout], [], [], 240)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError("lballoc-apiserver did not start: %r (log %s)" % (line, self.log_path))
        self.url = line.split()[-1]

    def kubectl(self, *args, input=None, check=True):
        """Runs kubectl against this server; returns stdout. Raises CalledProcessError (with
        stderr) when check and kubectl fails."""
        cmd = [KUBECTL, "--kubeconfig=" + self.kubeconfig,
               "--cache-dir=" + os.path.join(self.dir, "kubectl-cache")] + list(args)
        result = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, cmd, result.stdout, result.stderr)
        return result.stdout if check else result

    def get_json(self, *args):
        return json.loads(self.kubectl("get", "-o", "json", *args))

    def apply(self, objects):
        """kubectl apply of one object or a list of objects (dicts)."""
        if isinstance(objects, dict):
            objects = [objects]
        doc = {"apiVersion": "v1", "kind": "List", "items": objects}
        return self.kubectl("apply", "-f", "-", input=json.dumps(doc))

    def create_namespace(self, name, labels=None):
        """kubectl create namespace sends protobuf, which the in-tree server refuses: apply."""
        meta = {"name": name}
        if labels:
            meta["labels"] = dict(labels)
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})

    def install_crds(self):
        self.kubectl("apply", "-k", os.path.join(SOURCE_DIR, "crds"))
        eventually(lambda: self.kubectl("get", "lbpool", check=False).returncode == 0,
                   what="the LoadBalancerPool CRD to be served")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        if self.proc.stdout:
            self.proc.stdout.close()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Operator:
    """A lballoc-operator process. Probe and metrics servers bind 127.0.0.1:0; the ports are
    read from its log."""

    def __init__(self, server, name="lballoc-0", namespace="default", args=(), env=None,
                 election=True, metrics=True, log_dir=None):
        self.name = name
        self.server = server
        self.log_path = os.path.join(log_dir or server.dir, "operator-%s-%d.log" % (name, time.monotonic_ns()))
        self._log = open(self.log_path, "w")
        full_env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)}
        full_env.update({"POD_NAME": name, "POD_NAMESPACE": namespace})
        if env:
            full_env.update(env)
        cmd = [OPERATOR, "--kubeconfig=" + server.kubeconfig,
               "--health-probe-bind-address=127.0.0.1:0",
               "--metrics-bind-address=" + ("127.0.0.1:0" if metrics else "0")]
        if election:
            cmd += FAST_ELECTION
        else:
            cmd += ["--leader-elect=false"]
        cmd += list(args)
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=full_env)
        _PROCESSES.append(self.proc)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def port(self, what):
        """The bound port of "/metrics" or "/healthz" (from the log), waiting for it."""
        pattern = {"metrics": r"serving /metrics on port (\d+)",
                   "health": r"serving /healthz and /readyz on port (\d+)"}[what]

        def find():
            if self.proc.poll() is not None:
                raise AssertionError("operator %s exited (%s) before serving %s:\n%s" %
                                     (self.name, self.proc.returncode, what, self.log()))
            m = re.search(pattern, self.log())
            return int(m.group(1)) if m else None
        return eventually(find, timeout=30, what="%s port of %s" % (what, self.name))

    def scrape(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.port("metrics"),
                                    timeout=10) as r:
            return r.read().decode()

    def metric(self, name, **labels):
        """The value of one sample of /metrics (None when absent)."""
        for line in self.scrape().splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
            if not m or m.group(1) != name:
                continue
            got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            if all(got.get(k) == str(v) for k, v in labels.items()):
                return float(m.group(4))
        return None

    def is_leader(self):
        return self.metric("leader_election_master_status") == 1.0

    def wait_leader(self, timeout=30):
        eventually(self.is_leader, timeout=timeout, what="%s to lead" % self.name)

    def running(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends `sig` and returns the exit status (-N when killed by signal N)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("operator %s did not stop within %ds after %s:\n%s" %
                                     (self.name, timeout, sig, self.log()[-4000:]))
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)

    def wait(self, timeout=30):
        """Waits for the process to exit on its own; returns the exit status."""
        self.proc.wait(timeout=timeout)
        return self.stop()

    def cleanup(self):
        """For addCleanup(): whatever happened in the test, the process is gone afterwards."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self._log.closed:
            self._log.close()


# ---------------------------------------------------------------------------------------------
# Objects.

def pool(name, addresses, case_ns=None, **spec):
    """A LoadBalancerPool. With case_ns, it only serves that test case's namespace (its
    namespaceSelector matches the label e2e-case=<case_ns>), merged with any selector given."""
    body = {"addresses": list(addresses)}
    for key, value in spec.items():
        camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)
        body[camel] = value
    if case_ns is not None:
        selector = body.setdefault("namespaceSelector", {})
        selector.setdefault("matchLabels", {})["e2e-case"] = case_ns
    return {"apiVersion": "lballoc.io/v1alpha1", "kind": "LoadBalancerPool",
            "metadata": {"name": name}, "spec": body}


def service(name, namespace, ports=((80, "TCP"),), lb_class=None, annotations=None, labels=None,
            families=None, policy=None, load_balancer_ip=None, svc_type="LoadBalancer",
            traffic_policy=None, selector=None):
    spec = {"type": svc_type,
            "selector": selector if selector is not None else {"app": name},
            "ports": [{"name": "p%d-%s" % (p, proto.lower()), "port": p, "protocol": proto}
                      for p, proto in ports]}
    if lb_class is not None:
        spec["loadBalancerClass"] = lb_class
    if families is not None:
        spec["ipFamilies"] = list(families)
    if policy is not None:
        spec["ipFamilyPolicy"] = policy
    if load_balancer_ip is not None:
        spec["loadBalancerIP"] = load_balancer_ip
    if traffic_policy is not None:
        spec["externalTrafficPolicy"] = traffic_policy
    meta = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = dict(annotations)
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def ingress_ips(svc):
    return [i.get("ip") for i in
            (svc.get("status", {}).get("loadBalancer", {}).get("ingress") or [])]


def condition(obj, cond_type):
    for c in obj.get("status", {}).get("conditions") or []:
        if c.get("type") == cond_type:
            return c
    return None


class E2ECase(unittest.TestCase):
    """A test case with one API server (and usually one operator) per file.

    Subclasses set OPERATOR_ARGS / START_OPERATOR. Each test gets self.ns, a fresh labelled
    namespace, and self.block(n), distinct address blocks."""

    START_OPERATOR = True
    OPERATOR_ARGS = ()
    _block = 0

    @classmethod
    def setUpClass(cls):
        for path in (OPERATOR, APISERVER, KUBECTL):
            if not os.access(path, os.X_OK):
                raise AssertionError("missing executable %s (build it: make build)" % path)
        cls.server = ApiServer()
        cls.server.install_crds()
        cls.operator = None
        if cls.START_OPERATOR:
            cls.operator = Operator(cls.server, "e2e-0", args=cls.OPERATOR_ARGS)
            cls.operator.wait_leader()

    @classmethod
    def tearDownClass(cls):
        failed = False
        if cls.operator is not None and cls.operator.running():
            code = cls.operator.stop()
            failed = code != 0
        cls.server.stop()
        if failed:
            raise AssertionError("operator exited %s on SIGTERM; log %s" %
                                 (code, cls.operator.log_path))
        if os.environ.get("LBALLOC_E2E_KEEP") is None:
            cls.server.cleanup()

    def setUp(self):
        E2ECase._block += 1
        self.index = E2ECase._block
        name = self._testMethodName.lower()
        name = name[len("test_"):] if name.startswith("test_") else name
        self.ns = re.sub(r"[^a-z0-9-]", "-", name.replace("_", "-"))[:50]
        self.ns = ("c%d-" % self.index) + self.ns.strip("-")
        self.ns = self.ns[:63].strip("-")
        self.server.create_namespace(self.ns, {"e2e-case": self.ns})
        self.pools = []

    def tearDown(self):
        # Pools are cluster-scoped: remove this case's so later cases start clean.
        if self.pools:
            self.kubectl("delete", "lbpool", "--ignore-not-found", "--wait=false", *self.pools)
        if self.operator is not None and not self.operator.running():
            self.fail("the operator died during the test:\n" + self.operator.log()[-4000:])

    # --- shortcuts ---------------------------------------------------------------------------

    def start_operator(self, name, **kw):
        """Another operator on this file's server, killed after the test whatever happens."""
        op = Operator(self.server, name, **kw)
        self.addCleanup(op.cleanup)
        return op

    def kubectl(self, *args, **kw):
        return self.server.kubectl(*args, **kw)

    def v4(self, offset=0):
        """The IPv4 /24 block of this case ("10.<i>.<offset>.0/24" style prefix)."""
        return "10.%d.%d" % (self.index // 200 + 100, (self.index % 200) + offset)

    def v6(self):
        return "fd00:%x:%x::" % (self.index // 200 + 1, self.index % 200)

    def add_pool(self, name, addresses, scoped=True, **spec):
        name = "%s-%s" % (self.ns, name)
        self.pools.append(name)
        self.server.apply(pool(name, addresses, self.ns if scoped else None, **spec))
        return name

    def add_service(self, name, **kw):
        self.server.apply(service(name, self.ns, **kw))
        return name

    def svc(self, name):
        return self.server.get_json("service", "-n", self.ns, name)

    def lbpool(self, name):
        return self.server.get_json("lbpool", name)

    def wait_ips(self, name, count=1, timeout=30):
        """Waits until the Service has `count` ingress addresses; returns them."""
        def ready():
            ips = ingress_ips(self.svc(name))
            return (ips,) if len(ips) == count else None  # a tuple: [] must count as done
        return eventually(ready, timeout=timeout,
                          what="service %s/%s to have %d address(es)" % (self.ns, name, count))[0]

    def wait_condition(self, name, status, reason=None, timeout=30):
        def ready():
            c = condition(self.svc(name), ALLOCATED)
            if c and c.get("status") == status and (reason is None or c.get("reason") == reason):
                return c
            return None
        return eventually(ready, timeout=timeout,
                          what="service %s/%s condition %s=%s %s" % (self.ns, name, ALLOCATED,
                                                                     status, reason or ""))

    def wait_pool_condition(self, name, cond_type, status, reason=None, timeout=30):
        def ready():
            c = condition(self.lbpool(name), cond_type)
            if c and c.get("status") == status and (reason is None or c.get("reason") == reason):
                return c
            return None
        return eventually(ready, timeout=timeout,
                          what="pool %s condition %s=%s %s" % (name, cond_type, status,
                                                               reason or ""))

    def events(self, name):
        items = self.server.get_json("events", "-n", self.ns)["items"]
        return [(e.get("type"), e.get("reason"), e.get("message")) for e in items
                if e.get("involvedObject", {}).get("name") == name]

    def wait_event(self, name, reason, timeout=30):
        return eventually(lambda: [e for e in self.events(name) if e[1] == reason],
                          timeout=timeout, what="event %s on %s/%s" % (reason, self.ns, name))

    def ips_stay(self, names, expected):
        """Asserts each Service still holds exactly its expected addresses."""
        for name in names:
            self.assertEqual(ingress_ips(self.svc(name)), expected[name], name)
