#!/usr/bin/python3
"""e2e chaos: three lballoc-operator replicas against lballoc-apiserver with injected faults
(409, 500, 429 answers, latency, dropped watches, forced 410 resumes), the leader killed with
SIGKILL and restarted, the leader paused with SIGSTOP past its lease and resumed (it wakes up
believing it leads), pools edited and Services created, changed and deleted in a random order.

The server writes every committed write to an audit log (--audit-log), each replica has its own
token (--token-auth-file) so that the log names who wrote, and chaos_checker.py replays the log
as it grows, checking on every write that no address is given to two Services outside a sharing
group, that only the Lease's holder writes, and that no address moves without a reason of
API.md. At the end (faults off, every replica running) it waits for the state to settle and
checks that every handled Service that can have an address has one and that the pools' counts
equal what the Services hold. Figures are printed; any violation fails the test.

Seeded (the workload, the chaos schedule and the server's fault decisions; process timing is
not): LBALLOC_CHAOS_SEED (default: random, printed), LBALLOC_CHAOS_DURATION seconds of chaos
(default 75). A longer run: make chaos SEED=1234 DURATION=600.
"""

import json
import os
import random
import shutil
import signal
import ssl
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import yaml

from chaos_checker import Checker, handled
from lballoc_e2e import SOURCE_DIR, ApiServer, Operator

SEED = int(os.environ.get("LBALLOC_CHAOS_SEED") or random.SystemRandom().randrange(1, 10**6))
DURATION = float(os.environ.get("LBALLOC_CHAOS_DURATION") or 75)
REPLICAS = ["chaos-0", "chaos-1", "chaos-2"]
LEASE = "chaos"
LEASE_SECONDS = 3  # FAST_ELECTION in lballoc_e2e: lease 3s, renew deadline 2s, retry 500ms
NAMESPACES = ["chaos-a", "chaos-b"]
ADMIN_TOKEN = "chaos-admin"

FAULT_ARGS = [
    "--fault-verbs=get,list,watch,create,update,patch,delete",
    "--fault-conflict-rate=0.04", "--fault-error-rate=0.04", "--fault-throttle-rate=0.02",
    "--fault-retry-after=1", "--fault-latency-ms=5", "--fault-watch-drop-ms=6000",
    "--fault-watch-expire-rate=0.3", "--bookmark-interval=2000",
]


class Rest:
    """The driver's own client (urllib): retries what the injected faults break."""

    def __init__(self, url, token, ca_path):
        self.url, self.token = url, token
        self.context = ssl.create_default_context(cafile=ca_path)
        self.context.check_hostname = False  # the certificate names 127.0.0.1 only as an IP
        self.retries = 0

    def call(self, method, path, body=None, ctype="application/json", ok_missing=False):
        for attempt in range(60):
            data = json.dumps(body).encode() if body is not None else None
            req = urllib.request.Request(self.url + path, data=data, method=method)
            req.add_header("Authorization", "Bearer " + self.token)
            req.add_header("User-Agent", "chaos-driver")
            if data is not None:
                req.add_header("Content-Type", ctype)
            try:
                with urllib.request.urlopen(req, timeout=30, context=self.context) as r:
                    return json.loads(r.read() or b"null")
            except urllib.error.HTTPError as e:
                payload = json.loads(e.read() or b"{}")
                reason = payload.get("reason")
                if e.code == 404 and ok_missing:
                    return None
                if e.code in (429, 500, 503) or (e.code == 409 and reason == "Conflict"):
                    self.retries += 1
                    if e.code == 409 and method == "PUT":
                        raise Stale()
                    time.sleep(0.05 * (attempt % 5 + 1))
                    continue
                raise AssertionError("%s %s -> %d %s" % (method, path, e.code, payload))
        raise AssertionError("%s %s: still failing after 60 attempts" % (method, path))

    def mutate(self, path, fn):
        """GET, fn(obj) (returns False to skip), PUT; again on a lost race. None if missing."""
        for _ in range(30):
            obj = self.call("GET", path, ok_missing=True)
            if obj is None or fn(obj) is False:
                return None
            try:
                return self.call("PUT", path, obj)
            except Stale:
                continue
        raise AssertionError("PUT %s lost 30 races" % path)


class Stale(Exception):
    pass


def svc_path(ns, name=""):
    return "/api/v1/namespaces/%s/services%s" % (ns, "/" + name if name else "")


POOLS = "/apis/lballoc.io/v1alpha1/loadbalancerpools"


class Workload:
    """Random Services and pool edits."""

    def __init__(self, rng, rest):
        self.rng, self.rest = rng, rest
        self.services = {}  # (ns, name) -> True while it exists
        self.serial = 0
        self.ops = {"create": 0, "update": 0, "delete": 0, "pool": 0}

    def new_service(self):
        rng = self.rng
        self.serial += 1
        ns = rng.choice(NAMESPACES)
        name = "s%04d" % self.serial
        ports = rng.sample([(80, "TCP"), (443, "TCP"), (53, "UDP"), (8080, "TCP")],
                           rng.choice([1, 1, 2]))
        spec = {"type": "LoadBalancer", "selector": {"app": rng.choice(["a", "b"])},
                "ports": [{"name": "p%d" % p, "port": p, "protocol": proto} for p, proto in ports]}
        r = rng.random()
        if r < 0.15:
            spec["ipFamilyPolicy"], spec["ipFamilies"] = "PreferDualStack", ["IPv4", "IPv6"]
        elif r < 0.25:
            spec["ipFamilyPolicy"], spec["ipFamilies"] = "RequireDualStack", ["IPv4", "IPv6"]
        elif r < 0.30:
            spec["ipFamilyPolicy"], spec["ipFamilies"] = "SingleStack", ["IPv6"]
        c = rng.random()
        if c < 0.1:
            spec["loadBalancerClass"] = "kube-router"
        elif c < 0.2:
            spec["loadBalancerClass"] = "other.example/lb"
        if rng.random() < 0.1:
            spec["externalTrafficPolicy"] = "Local"
        meta = {"name": name, "namespace": ns, "annotations": {}, "labels": {"team": "x"}}
        self.decorate(meta["annotations"])
        body = {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}
        self.rest.call("POST", svc_path(ns), body)
        self.services[(ns, name)] = True
        self.ops["create"] += 1

    def decorate(self, ann):
        rng = self.rng
        if rng.random() < 0.3:
            ann["lballoc.io/sharing-key"] = rng.choice(["k1", "k2"])
        p = rng.random()
        if p < 0.08:
            ann["lballoc.io/pool"] = "p-named"
        elif p < 0.12:
            ann["lballoc.io/pool"] = "p-small"
        if rng.random() < 0.08:
            ann["lballoc.io/ips"] = "10.77.1.%d" % rng.randrange(1, 64)

    def change_service(self):
        rng = self.rng
        ns, name = rng.choice(sorted(self.services))
        kind = rng.choice(["ports", "annotations", "annotations", "type", "labels"])

        def fn(svc):
            spec, meta = svc["spec"], svc["metadata"]
            if kind == "ports":
                ports = rng.sample([(80, "TCP"), (443, "TCP"), (53, "UDP"), (8080, "TCP")],
                                   rng.choice([1, 2]))
                spec["ports"] = [{"name": "p%d" % p, "port": p, "protocol": proto}
                                 for p, proto in ports]
            elif kind == "annotations":
                meta["annotations"] = {}
                self.decorate(meta["annotations"])
            elif kind == "labels":
                meta.setdefault("labels", {})["rev"] = str(rng.randrange(1000))
            elif spec.get("type") == "LoadBalancer":
                spec["type"] = "ClusterIP"
                spec.pop("loadBalancerClass", None)
                spec.pop("externalTrafficPolicy", None)
                spec.pop("allocateLoadBalancerNodePorts", None)
                for p in spec.get("ports", []):
                    p.pop("nodePort", None)
            else:
                spec["type"] = "LoadBalancer"
                c = rng.random()
                if c < 0.2:
                    spec["loadBalancerClass"] = "other.example/lb"
                elif c < 0.3:
                    spec["loadBalancerClass"] = "kube-router"
        if self.rest.mutate(svc_path(ns, name), fn) is None:
            self.services.pop((ns, name), None)
        self.ops["update"] += 1

    def delete_service(self):
        key = self.rng.choice(sorted(self.services))
        self.rest.call("DELETE", svc_path(*key), ok_missing=True)
        self.services.pop(key, None)
        self.ops["delete"] += 1

    # --- pools ---

    def pool_spec(self, name):
        rng = self.rng
        if name == "p-small":
            return {"addresses": ["10.77.0.1-10.77.0.%d" % rng.randrange(4, 13)],
                    "disabled": rng.random() < 0.2}
        if name == "p-main":
            spec = {"addresses": ["10.77.1.0/26"] + (["10.77.1.64/27"] if rng.random() < 0.6 else []),
                    "priority": rng.randrange(0, 3)}
            excl = ["10.77.1.%d" % rng.randrange(1, 63) for _ in range(rng.choice([0, 0, 1, 2]))]
            if excl:
                spec["excludeAddresses"] = sorted(set(excl))
            return spec
        if name == "p-v6":
            return {"addresses": ["fd00:77::/122"], "disabled": rng.random() < 0.2}
        if name == "p-named":
            return {"addresses": ["10.77.3.0/29"], "autoAssign": False}
        # p-extra: its own block, or one overlapping p-main's (an Overlap loser).
        return {"addresses": [rng.choice(["10.77.4.0/28", "10.77.1.48/28"])],
                "priority": rng.randrange(0, 3)}

    def create_pools(self):
        for name in ("p-main", "p-small", "p-v6", "p-named"):
            self.put_pool(name)

    def put_pool(self, name):
        spec = self.pool_spec(name)
        body = {"apiVersion": "lballoc.io/v1alpha1", "kind": "LoadBalancerPool",
                "metadata": {"name": name}, "spec": spec}

        def fn(pool):
            pool["spec"] = spec
        if self.rest.mutate(POOLS + "/" + name, fn) is None:
            try:
                self.rest.call("POST", POOLS, body)
            except AssertionError as e:
                if "AlreadyExists" not in str(e):
                    raise

    def edit_pool(self):
        name = self.rng.choice(["p-main", "p-main", "p-small", "p-v6", "p-named", "p-extra"])
        if name in ("p-named", "p-extra") and self.rng.random() < 0.4:
            self.rest.call("DELETE", POOLS + "/" + name, ok_missing=True)
        else:
            self.put_pool(name)
        self.ops["pool"] += 1

    def step(self):
        n = len(self.services)
        weights = {"create": 40 if n < 50 else 5, "update": 30 if n else 0,
                   "delete": (25 if n > 40 else 10) if n else 0, "pool": 6}
        op = self.rng.choices(list(weights), list(weights.values()))[0]
        {"create": self.new_service, "update": self.change_service,
         "delete": self.delete_service, "pool": self.edit_pool}[op]()


class ChaosTest(unittest.TestCase):
    def test_chaos(self):
        print("chaos: seed %d, %.0f s of chaos (rerun: make chaos SEED=%d DURATION=%.0f)" %
              (SEED, DURATION, SEED, DURATION), flush=True)
        rng = random.Random(SEED)
        self.replicas = {}
        self.paused = set()
        self.figures = {"leader kills": 0, "standby kills": 0, "pauses": 0,
                        "pauses of the leader": 0}
        server = self.start_server()
        print("chaos: audit log %s, logs in %s (kept with LBALLOC_E2E_KEEP=1 or on failure)" %
              (self.audit_path, server.dir), flush=True)
        rest = Rest(server.url, ADMIN_TOKEN, os.path.join(self.dir, "ca.pem"))
        self.install(rest)
        checker = Checker(REPLICAS, "default", LEASE)
        audit = open(self.audit_path)
        self.addCleanup(audit.close)

        def drain():
            for line in audit.readlines():
                checker.feed_line(line)
        work = Workload(rng, rest)
        work.create_pools()
        for name in REPLICAS:
            self.start_replica(server, name)
        pending = []  # (when, what, fn)
        start = time.monotonic()
        next_chaos = start + rng.uniform(3, 5)
        while time.monotonic() < start + DURATION:
            drain()
            now = time.monotonic()
            for item in [p for p in pending if p[0] <= now]:
                pending.remove(item)
                item[2]()
            if now >= next_chaos:
                self.chaos(rng, server, checker, pending)
                next_chaos = now + rng.uniform(3, 7)
            work.step()
            time.sleep(rng.uniform(0.02, 0.15))
        # The quiet end: every replica runs, faults off, then the state must settle.
        for _, _, fn in sorted(pending, key=lambda p: p[0]):
            fn()
        for name in REPLICAS:
            if name in self.paused:
                self.resume(name)
            if not self.replicas[name].running():
                self.start_replica(server, name)
        server.proc.send_signal(signal.SIGUSR1)
        chaos_end = time.monotonic()
        problems = self.settle(checker, drain)
        settle_s = time.monotonic() - chaos_end
        for op in self.replicas.values():
            self.assertEqual(op.stop(), 0, "a replica did not stop cleanly: " + op.log_path)
        server.stop()
        drain()
        with open(server.log_path) as f:
            injected = [l for l in f if "faults injected" in l]
        handled_now = [s for s in checker.services.values() if handled(s)]
        figures = [
            ("seed", SEED), ("chaos seconds", "%.0f" % DURATION),
            ("driver operations", sum(work.ops.values())),
            ("  creates/updates/deletes/pool edits", "%(create)d/%(update)d/%(delete)d/%(pool)d" % work.ops),
            ("driver retries after injected faults", rest.retries),
            ("faults injected by the server (409/429/500, forced 410)",
             injected[-1].split()[1] if injected else "?"),
            ("committed writes (audit log)", checker.writes),
            ("writes by replicas (not the Lease)", dict(checker.replica_writes)),
            ("leader changes", checker.leader_changes),
            ("leaders in order", " ".join(checker.leaders)),
            ("SIGKILLs of the leader", self.figures["leader kills"]),
            ("SIGKILLs of a standby", self.figures["standby kills"]),
            ("SIGSTOP pauses past the lease (of the leader)",
             "%d (%d)" % (self.figures["pauses"], self.figures["pauses of the leader"])),
            ("addresses moved, by reason", dict(checker.moves) or 0),
            ("sharing decided on a holder the user had just changed (excused)",
             checker.sharing_races),
            ("handled Services at the end", len(handled_now)),
            ("  holding an address", len([s for s in handled_now
                                          if (s.get("status") or {}).get("loadBalancer", {}).get("ingress")])),
            ("seconds to settle after the chaos", "%.1f" % settle_s),
            ("violations", len(checker.violations)),
            ("end-state problems", len(problems)),
        ]
        print("chaos figures:")
        for k, v in figures:
            print("  %-58s %s" % (k, v))
        sys.stdout.flush()
        self.assertEqual([str(v) for v in checker.violations[:20]], [],
                         "audit log %s" % self.audit_path)
        self.assertEqual(problems, [], "audit log %s" % self.audit_path)
        self.assertGreater(checker.leader_changes, 1, "the chaos changed no leader")
        if os.environ.get("LBALLOC_E2E_KEEP") is None:
            server.cleanup()
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- processes ---

    def start_server(self):
        """lballoc-apiserver with faults, one token per replica and the audit log; the replicas'
        kubeconfigs (the admin one with the replica's token) in self.dir."""
        self.dir = tempfile.mkdtemp(prefix="lballoc-chaos-")
        tokens_path = os.path.join(self.dir, "tokens.csv")
        with open(tokens_path, "w") as f:
            f.writelines("%s-token,%s,%d\n" % (n, n, i + 1) for i, n in enumerate(REPLICAS))
        self.audit_path = os.path.join(self.dir, "audit.jsonl")
        # TLS, as in a cluster (and kubectl sends no bearer token over plain HTTP).
        server = ApiServer(["--token=" + ADMIN_TOKEN, "--token-auth-file=" + tokens_path,
                            "--tls-self-signed", "--ca-out=" + os.path.join(self.dir, "ca.pem"),
                            "--fault-seed=%d" % SEED, "--audit-log=" + self.audit_path] +
                           FAULT_ARGS)
        self.addCleanup(lambda: server.proc.poll() is None and server.stop())
        with open(server.kubeconfig) as f:
            admin = f.read()
        self.assertIn("token: " + ADMIN_TOKEN, admin)
        for name in REPLICAS:
            with open(os.path.join(self.dir, name + ".kubeconfig"), "w") as f:
                f.write(admin.replace("token: " + ADMIN_TOKEN, "token: %s-token" % name))
        return server

    def install(self, rest):
        with open(os.path.join(SOURCE_DIR, "crds", "lballoc.io_loadbalancerpools.yaml")) as f:
            crd = yaml.safe_load(f)
        rest.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        for ns in NAMESPACES:
            rest.call("POST", "/api/v1/namespaces",
                      {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    def start_replica(self, server, name):
        op = Operator(server, name, metrics=False,
                      args=["--kubeconfig=" + os.path.join(self.dir, name + ".kubeconfig"),
                            "--leader-elect-lease-name=" + LEASE])
        self.addCleanup(op.cleanup)
        self.replicas[name] = op
        return op

    def resume(self, name):
        if name in self.paused:
            self.replicas[name].proc.send_signal(signal.SIGCONT)
            self.paused.discard(name)

    def chaos(self, rng, server, checker, pending):
        """One process event: SIGKILL the leader (restarted 0.5-3 s later), SIGSTOP the leader
        past its lease (resumed 1-2.5 s after the lease ran out), or SIGKILL a standby."""
        leader = checker.holder
        down = [n for n, op in self.replicas.items() if not op.running()]
        if down or self.paused:
            return  # one disturbance at a time keeps a majority... and progress
        kind = rng.choice(["kill", "kill", "pause", "standby"])
        if kind in ("kill", "pause") and leader not in self.replicas:
            kind = "standby"
        if kind == "standby":
            victim = rng.choice([n for n in REPLICAS if n != leader])
        else:
            victim = leader
        op = self.replicas[victim]
        if kind == "pause":
            op.proc.send_signal(signal.SIGSTOP)
            self.paused.add(victim)
            self.figures["pauses"] += 1
            self.figures["pauses of the leader"] += 1
            pending.append((time.monotonic() + LEASE_SECONDS + rng.uniform(1, 2.5), "resume",
                            lambda v=victim: self.resume(v)))
            return
        op.kill()
        self.figures["leader kills" if kind == "kill" else "standby kills"] += 1
        pending.append((time.monotonic() + rng.uniform(0.5, 3), "restart",
                        lambda v=victim: self.start_replica(server, v)))

    def settle(self, checker, drain, timeout=150):
        """Waits until no write (but Lease renewals) came for 3 s and the end state has no
        problem; returns the problems left at the timeout."""
        deadline = time.monotonic() + timeout
        last_rv, quiet_since = -1, time.monotonic()
        problems = ["not checked"]
        while time.monotonic() < deadline:
            drain()
            if checker.last_rv != last_rv:
                last_rv, quiet_since = checker.last_rv, time.monotonic()
            elif time.monotonic() - quiet_since >= 3:
                problems = checker.final_problems()
                if not problems:
                    return []
            time.sleep(0.2)
        return checker.final_problems()


if __name__ == "__main__":
    unittest.main(verbosity=2)
