#!/usr/bin/python3
"""e2e (issue 12, "RBAC proven, not asserted"): config/default applied to the real control plane
(kube-apiserver v1.37 with --authorization-mode=RBAC, test/realcluster), lballoc-operator run with
a token of its own ServiceAccount, and every permission of its ClusterRole and Role shown to be
needed (or shown to be unused):

- the rendered RBAC has no wildcard verb, resource, group or resource name, and the
  ServiceAccount is bound to nothing else;
- with the roles as shipped, the whole job works: a pool gets Ready, a Service gets an address and
  its condition, an Event is created, the Lease lballoc-system/lballoc is held by the operator;
- for each (resource, verb) of each rule: that one permission is removed (the role is replaced by
  a copy without it), `kubectl auth can-i --as <the ServiceAccount>` flips to no, the request the
  operator makes for it gets 403 when sent with the ServiceAccount's token (dry run for writes),
  and, for every permission the operator uses, a fresh operator logs the 403 for exactly that
  verb and resource, and the part of the job that needs it has not happened (no address, pool
  not Ready, no event, event count not bumped, not leader, not ready for a LIST; a refused
  WATCH only shows in the log, since the informer falls back to relisting); the rule is then
  restored and the whole job resumes;
- the permissions the operator never uses (USED below, read from the code) are removed together
  and the whole job still works: they are listed on stderr for the maintainers (API.md grants
  them).

One control plane for the file. Skipped (exit 77, ctest: Skipped) with a loud message only when
the real control plane is not built (`make realcluster`, Go >= 1.26).
"""

import base64
import copy
import json
import os
import re
import select
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import types
import unittest
import urllib.error
import urllib.request

import yaml

from lballoc_e2e import (ALLOCATED, OPERATOR, SOURCE_DIR, BUILD_DIR, KubectlError,
                         Operator, _PROCESSES, condition, eventually, ingress_ips)

REALCLUSTER_BIN = os.environ.get("LBALLOC_REALCLUSTER_BIN",
                                 os.path.join(BUILD_DIR, "realcluster", "bin"))
LAUNCHER = os.path.join(REALCLUSTER_BIN, "lballoc-realcluster")
KUBECTL = os.path.join(REALCLUSTER_BIN, "kubectl")  # v1.37, within the skew of the server

SYSTEM_NS = "lballoc-system"
SA = "lballoc-operator"
SA_USER = "system:serviceaccount:%s:%s" % (SYSTEM_NS, SA)
CLUSTER_ROLE = "lballoc-operator-role"
ROLE = "lballoc-leader-election-role"
LEASE = "lballoc"
RENEW = ("leases", "update")  # the one case run against a running leader
IDENTITY = "x"  # POD_NAME of the operator run here: the Lease's holder
NS = "rbac-e2e"  # where the test's Services live

# What the operator really sends (read from operator/ and controllers/): the informers LIST and
# WATCH Services, Namespaces and LoadBalancerPools (reads are served from their caches, never a
# GET); status is written with a merge PATCH on the status subresource; the event recorder
# POSTs Events and merge-PATCHes a repeat's count; leader election GETs, creates (POST) and
# updates (PUT) its Lease.
USED = {
    ("services", "list"), ("services", "watch"), ("services/status", "patch"),
    ("loadbalancerpools", "list"), ("loadbalancerpools", "watch"),
    ("loadbalancerpools/status", "patch"),
    ("namespaces", "list"), ("namespaces", "watch"),
    ("events", "create"), ("events", "patch"),
    ("leases", "get"), ("leases", "create"), ("leases", "update"),
}


def skip_loudly(missing):
    bar = "*" * 100
    sys.stderr.write("%s\n*** SKIPPED: the real control plane is not built (%s missing).\n"
                     "*** The RBAC proof needs kube-apiserver with RBAC: run `make realcluster` "
                     "(Go >= 1.26).\n%s\n" % (bar, missing, bar))
    sys.exit(77)


class RealCluster:
    """lballoc-realcluster: etcd + kube-apiserver (RBAC on) with an admin kubeconfig."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lballoc-rbac-")
        self.kubeconfig = os.path.join(self.dir, "admin.kubeconfig")
        self._log = open(os.path.join(self.dir, "realcluster.log"), "w")
        self.proc = subprocess.Popen(
            [LAUNCHER, "--port=0", "--kubeconfig-out=" + self.kubeconfig],
            stdout=subprocess.PIPE, stderr=self._log, text=True)
        _PROCESSES.append(self.proc)
        ready, _, _ = select.select([self.proc.stdout], [], [], 240)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError("lballoc-realcluster did not start: %r (log %s)" %
                               (line, self._log.name))
        self.url = line.split()[-1]
        raw = json.loads(self.kubectl("config", "view", "--raw", "-o", "json"))
        self.ca_pem = base64.b64decode(raw["clusters"][0]["cluster"]["certificate-authority-data"])
        self.ssl = ssl.create_default_context(cadata=self.ca_pem.decode())

    def kubectl(self, *args, input=None, check=True, kubeconfig=None):
        cmd = [KUBECTL, "--kubeconfig=" + (kubeconfig or self.kubeconfig),
               "--cache-dir=" + os.path.join(self.dir, "kubectl-cache")] + list(args)
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise KubectlError(r.returncode, cmd, r.stdout, r.stderr)
        return r.stdout if check else r

    def get_json(self, *args):
        return json.loads(self.kubectl("get", "-o", "json", *args))

    def apply(self, *objects):
        doc = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        return self.kubectl("apply", "-f", "-", input=json.dumps(doc))

    def request(self, token, method, path, body=None, content_type="application/json"):
        """One HTTP request with a bearer token; returns the status code."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + token)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ssl, timeout=30) as r:
                return r.status  # a watch: the headers are enough
        except urllib.error.HTTPError as e:
            return e.code

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def rules_of(role):
    """(rule index, resource, verb) of every permission of a Role or ClusterRole."""
    return [(i, res, verb) for i, rule in enumerate(role.get("rules") or [])
            for res in rule.get("resources") or [] for verb in rule.get("verbs") or []]


def without(role, removed):
    """A copy of the role, for `kubectl replace`, without the (resource, verb) pairs in removed.
    A rule's resource loses the verb only in that rule's copy: the rule is split when it names
    several resources, and dropped when nothing is left."""
    out = {k: v for k, v in role.items() if k in ("apiVersion", "kind")}
    out["metadata"] = {k: role["metadata"][k] for k in ("name", "namespace", "labels")
                       if k in role["metadata"]}
    rules = []
    for rule in role.get("rules") or []:
        for res in rule["resources"]:
            verbs = [v for v in rule["verbs"] if (res, v) not in removed]
            if verbs:
                r = copy.deepcopy(rule)
                r["resources"], r["verbs"] = [res], verbs
                rules.append(r)
    out["rules"] = rules
    return out


class RbacTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        for path in (LAUNCHER, KUBECTL, os.path.join(REALCLUSTER_BIN, "kube-apiserver"),
                     os.path.join(REALCLUSTER_BIN, "etcd")):
            if not os.access(path, os.X_OK):
                skip_loudly(path)
        if not os.access(OPERATOR, os.X_OK):
            raise AssertionError("missing executable %s (build it: make build)" % OPERATOR)
        cls.t0 = time.monotonic()
        cls.cluster = c = RealCluster()
        cls.operator = None
        cls.case = 0
        # 1. Install exactly as a user does.
        c.kubectl("apply", "-k", os.path.join(SOURCE_DIR, "config", "default"))
        c.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                  "crd/loadbalancerpools.lballoc.io")
        c.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        cls.roles = {
            CLUSTER_ROLE: c.get_json("clusterrole", CLUSTER_ROLE),
            ROLE: c.get_json("role", "-n", SYSTEM_NS, ROLE),
        }
        # 2. The operator's own identity: a token of its ServiceAccount, the cluster's CA.
        cls.token = c.kubectl("create", "token", SA, "-n", SYSTEM_NS, "--duration=2h").strip()
        cls.sa_kubeconfig = os.path.join(c.dir, "operator.kubeconfig")
        with open(cls.sa_kubeconfig, "w") as f:
            f.write("apiVersion: v1\nkind: Config\nclusters:\n- name: real\n  cluster:\n"
                    "    server: %s\n    certificate-authority-data: %s\nusers:\n"
                    "- name: operator\n  user:\n    token: %s\ncontexts:\n- name: operator\n"
                    "  context:\n    cluster: real\n    user: operator\n"
                    "current-context: operator\n" %
                    (c.url, base64.b64encode(c.ca_pem).decode(), cls.token))
        # Objects the direct requests below address (created as admin).
        c.apply(cls.pool_obj("probe", "10.250.255.0/28"),
                cls.service_obj("probe"),
                {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": "probe.rbac", "namespace": NS},
                 "involvedObject": {"kind": "Service", "namespace": NS, "name": "probe"},
                 "reason": "Probe", "message": "probe", "type": "Normal"})

    @classmethod
    def tearDownClass(cls):
        if cls.operator is not None:
            cls.operator.cleanup()
        cls.cluster.stop()
        sys.stderr.write("test_rbac: %.1f s with the control plane\n" %
                         (time.monotonic() - cls.t0))

    # --- objects -----------------------------------------------------------------------------

    @staticmethod
    def pool_obj(name, cidr):
        return {"apiVersion": "lballoc.io/v1alpha1", "kind": "LoadBalancerPool",
                "metadata": {"name": name}, "spec": {"addresses": [cidr]}}

    @staticmethod
    def service_obj(name):
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
                "spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False,
                         "selector": {"app": name},
                         "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}

    def new_case(self):
        RbacTest.case += 1
        return RbacTest.case

    # --- the operator ------------------------------------------------------------------------

    def start_operator(self):
        """Stops the running operator (a leader releases the Lease on SIGTERM), starts a fresh
        one with the ServiceAccount's kubeconfig."""
        self.stop_operator()

        server = types.SimpleNamespace(kubeconfig=self.sa_kubeconfig, dir=self.cluster.dir)
        op = Operator(server, IDENTITY, SYSTEM_NS, args=["--leader-elect-lease-name=" + LEASE])
        RbacTest.operator = op
        return op

    def ensure_leader(self):
        if RbacTest.operator is None or not RbacTest.operator.running():
            self.start_operator()
        RbacTest.operator.wait_leader()

    def stop_operator(self):
        if RbacTest.operator is not None:
            RbacTest.operator.stop()
            RbacTest.operator = None

    def wait_log(self, op, pattern, timeout=60):
        def found():
            if not op.running():
                raise AssertionError("operator exited (%s):\n%s" % (op.proc.returncode,
                                                                   op.log()[-3000:]))
            return re.search(pattern, op.log())
        return eventually(found, timeout=timeout, what="operator log /%s/" % pattern)

    def lease_holder(self):
        r = self.cluster.kubectl("get", "lease", "-n", SYSTEM_NS, LEASE, "-o", "json", check=False)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)["spec"].get("holderIdentity")

    def svc(self, name):
        return self.cluster.get_json("service", "-n", NS, name)

    def events_of(self, name):
        return [e.get("reason") for e in self.cluster.get_json("events", "-n", NS)["items"]
                if e["involvedObject"].get("name") == name]

    def pool_ready(self, name):
        c = condition(self.cluster.get_json("lbpool", name), "Ready")
        return c is not None and c.get("status") == "True"

    def wait_job_done(self, pool, service, timeout=60):
        """The whole job: pool Ready, Service address + condition + event, Lease held."""
        eventually(lambda: self.lease_holder() == IDENTITY, timeout=timeout,
                   what="the Lease held by %s" % IDENTITY)
        eventually(lambda: self.pool_ready(pool), timeout=timeout, what="pool %s Ready" % pool)
        ips = eventually(lambda: ingress_ips(self.svc(service)), timeout=timeout,
                         what="an address for %s" % service)
        c = condition(self.svc(service), ALLOCATED)
        self.assertEqual(c and c["status"], "True", c)
        self.assertIn(ips[0], c["message"])
        eventually(lambda: "AddressAllocated" in self.events_of(service), timeout=timeout,
                   what="event AddressAllocated on %s" % service)
        return ips

    # --- permissions -------------------------------------------------------------------------

    def can_i(self, group, resource, verb, role_name, rule):
        res, _, sub = resource.partition("/")
        target = res + ("." + group if group else "")
        names = rule.get("resourceNames") or []
        if names:
            target += "/" + names[0]
        args = ["auth", "can-i", "--as=" + SA_USER, verb, target]
        if sub:
            args.append("--subresource=" + sub)
        args += ["-n", SYSTEM_NS] if role_name == ROLE else ["--all-namespaces"]
        r = self.cluster.kubectl(*args, check=False)
        answer = r.stdout.strip()
        if answer not in ("yes", "no"):
            raise AssertionError("kubectl auth can-i: %r %r" % (answer, r.stderr))
        return answer == "yes"

    def probe(self, resource, verb):
        """The operator's request for (resource, verb), sent with its token; writes are dry
        runs. Returns the HTTP status."""
        c = self.cluster
        group_path = {"services": "/api/v1", "namespaces": "/api/v1", "events": "/api/v1",
                      "loadbalancerpools": "/apis/lballoc.io/v1alpha1",
                      "leases": "/apis/coordination.k8s.io/v1"}
        res, _, sub = resource.partition("/")
        base = group_path[res]
        if res == "services":
            coll, one, cur = base + "/services", base + "/namespaces/%s/services/probe" % NS, \
                lambda: self.svc("probe")
        elif res == "loadbalancerpools":
            coll, one, cur = base + "/loadbalancerpools", base + "/loadbalancerpools/probe", \
                lambda: c.get_json("lbpool", "probe")
        elif res == "namespaces":
            coll, one, cur = base + "/namespaces", base + "/namespaces/" + NS, None
        elif res == "events":
            coll, one, cur = base + "/namespaces/%s/events" % NS, \
                base + "/namespaces/%s/events/probe.rbac" % NS, None
        else:
            coll = base + "/namespaces/%s/leases" % SYSTEM_NS
            one = coll + "/" + LEASE
            cur = lambda: c.get_json("lease", "-n", SYSTEM_NS, LEASE)
        if sub:
            one += "/" + sub
        dry = "?dryRun=All"
        if verb == "get":
            return c.request(self.token, "GET", one)
        if verb == "list":
            return c.request(self.token, "GET", coll + "?limit=1")
        if verb == "watch":
            return c.request(self.token, "GET", coll + "?watch=true&timeoutSeconds=1")
        if verb == "patch":
            return c.request(self.token, "PATCH", one + dry, {},
                             "application/merge-patch+json")
        if verb == "update":
            return c.request(self.token, "PUT", one + dry, cur())
        if verb == "create":
            if res == "events":
                body = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "dry.rbac"},
                        "involvedObject": {"kind": "Service", "namespace": NS, "name": "probe"},
                        "reason": "Probe", "message": "probe", "type": "Normal"}
            else:
                body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                        "metadata": {"name": LEASE}}
            return c.request(self.token, "POST", coll + dry, body)
        raise AssertionError("no request known for %s %s: add one (and a proof) here" %
                             (verb, resource))

    def set_role(self, role_name, role):
        self.cluster.kubectl("replace", "-f", "-", input=json.dumps(role))

    def remove(self, role_name, removed):
        self.set_role(role_name, without(self.roles[role_name], removed))

    def restore(self, role_name):
        self.set_role(role_name, without(self.roles[role_name], set()))

    # --- the tests ---------------------------------------------------------------------------

    def test_0_rendered_rbac_is_exact(self):
        rendered = list(yaml.safe_load_all(
            self.cluster.kubectl("kustomize", os.path.join(SOURCE_DIR, "config", "default"))))
        roles = [o for o in rendered if o and o["kind"] in ("Role", "ClusterRole")]
        self.assertEqual(sorted(o["metadata"]["name"] for o in roles), sorted(self.roles))
        for role in roles:
            self.assertNotIn("aggregationRule", role)
            for rule in role["rules"]:
                for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                    self.assertNotIn("*", rule.get(key) or [], (role["metadata"]["name"], rule))
                    for v in rule.get(key) or []:
                        self.assertNotIn("*", v, (role["metadata"]["name"], rule))
                self.assertNotIn("nonResourceURLs", rule)
        # The applied roles are the rendered ones.
        for role in roles:
            self.assertEqual(role["rules"], self.roles[role["metadata"]["name"]]["rules"])
        # The ServiceAccount gets nothing from any other binding (the built-in ones grant its
        # groups discovery only), so each rule below is the only source of its permission.
        subject = {"kind": "ServiceAccount", "name": SA, "namespace": SYSTEM_NS}
        bound = []
        for kind in ("clusterrolebindings", "rolebindings"):
            for b in self.cluster.get_json(kind, "--all-namespaces")["items"]:
                for s in b.get("subjects") or []:
                    if ({k: s.get(k) for k in subject} == subject or
                            (s.get("kind") == "Group" and s.get("name") in (
                                "system:serviceaccounts",
                                "system:serviceaccounts:" + SYSTEM_NS,
                                "system:authenticated"))):
                        bound.append((b["roleRef"]["name"], s.get("name")))
        self.assertEqual(sorted(r for r, s in bound if s == SA),
                         sorted([CLUSTER_ROLE, ROLE]), bound)
        # The built-in roles bound to its groups (discovery, public info, ...) grant nothing on
        # what the operator touches, and no wildcard.
        ours = {res.partition("/")[0] for role in self.roles.values()
                for _, res, _ in rules_of(role)}
        for role_name, _ in bound:
            if role_name in self.roles:
                continue
            for rule in self.cluster.get_json("clusterrole", role_name).get("rules") or []:
                resources = {r.partition("/")[0] for r in rule.get("resources") or []}
                self.assertFalse(resources & (ours | {"*"}), (role_name, rule))

    def test_1_whole_job(self):
        n = self.new_case()
        self.cluster.apply(self.pool_obj("job", "10.250.%d.0/28" % n), self.service_obj("job"))
        self.start_operator()
        ips = self.wait_job_done("job", "job")
        self.assertTrue(ips[0].startswith("10.250."), ips)
        lease = self.cluster.get_json("lease", "-n", SYSTEM_NS, LEASE)
        self.assertEqual(lease["spec"]["holderIdentity"], IDENTITY)
        # The Lease Role is namespaced: no Lease elsewhere can be touched.
        for ns in ("default", "kube-system"):
            r = self.cluster.kubectl("auth", "can-i", "--as=" + SA_USER, "update",
                                     "leases.coordination.k8s.io", "-n", ns, check=False)
            self.assertEqual(r.stdout.strip(), "no", ns)

    def test_2_each_permission_is_needed(self):
        """Every (resource, verb) of every rule: removed alone, it is refused; the operator's
        own request for it gets 403 and its job stalls; restored, the job resumes."""
        cases = [(role_name, role, i, res, verb) for role_name, role in self.roles.items()
                 for i, res, verb in rules_of(role)]
        self.assertGreaterEqual(len(cases), 13)
        for role_name, role, i, res, verb in cases:
            rule = role["rules"][i]
            group = rule["apiGroups"][0]
            with self.subTest(role=role_name, resource=res, verb=verb):
                self.assertEqual(len(rule["apiGroups"]), 1, rule)
                self.assertTrue(self.can_i(group, res, verb, role_name, rule))
                self.assertNotEqual(self.probe(res, verb), 403, "allowed before the removal")
                used = (res, verb) in USED
                if (res, verb) == RENEW:
                    self.ensure_leader()  # the running leader loses its Lease
                elif used:
                    self.stop_operator()  # before the removal: a leader releases the Lease
                self.remove(role_name, {(res, verb)})
                try:
                    eventually(lambda: not self.can_i(group, res, verb, role_name, rule),
                               timeout=30, what="can-i %s %s to say no" % (verb, res))
                    self.assertEqual(self.probe(res, verb), 403)
                    sys.stderr.write("test_rbac: %s without %s %s: can-i no, its request 403\n"
                                     % (role_name, verb, res))
                    if used:
                        self.operator_refused(res, verb)
                finally:
                    self.restore(role_name)
                eventually(lambda: self.can_i(group, res, verb, role_name, rule),
                           timeout=30, what="can-i %s %s to say yes again" % (verb, res))
                self.assertNotEqual(self.probe(res, verb), 403, "allowed after the restore")
                if used:
                    self.job_resumes(res, verb)

    def operator_refused(self, res, verb):
        """With (res, verb) removed: a fresh operator's own request for it gets 403, and the
        part of the job that needs it does not happen."""
        n = self.new_case()
        self.current = ("p%d" % n, "s%d" % n)
        pool, svc = self.current
        if (res, verb) == ("leases", "create"):
            self.cluster.kubectl("delete", "lease", "-n", SYSTEM_NS, LEASE)
        if (res, verb) == RENEW:
            # The leader cannot renew: it steps down within the renew deadline (2 s here), and
            # nothing is written until the rule is back.
            op = RbacTest.operator
            eventually(lambda: not op.is_leader(), timeout=30, what="the leader to step down")
        else:
            op = self.start_operator()
        # Created once the operator is up (or has stepped down): what it does with them is
        # what the permission allows.
        self.cluster.apply(self.pool_obj(pool, "10.250.%d.0/28" % n), self.service_obj(svc))
        if (res, verb) == ("events", "patch"):
            # Only a repeat of an event is patched (its count): the same allocation again.
            eventually(lambda: "AddressAllocated" in self.events_of(svc), timeout=60,
                       what="event AddressAllocated on %s" % svc)
            self.reallocate(svc)
        forbidden = r'cannot %s resource \\?"%s\\?"' % (verb, re.escape(res))
        self.wait_log(op, forbidden)
        sys.stderr.write("test_rbac: without %s %s: the operator logs: ...%s\n" % (
            verb, res, self.log_line(op, forbidden)))
        if res == "services/status":
            self.assertEqual(ingress_ips(self.svc(svc)), [])
        elif res == "loadbalancerpools/status":
            self.assertFalse(self.pool_ready(pool))
        elif res == "leases":
            self.assertFalse(op.is_leader())
            if (res, verb) != RENEW:  # the stepped-down leader's name stays, unrenewed
                self.assertNotEqual(self.lease_holder(), IDENTITY)
        elif (res, verb) == ("events", "create"):
            self.wait_log(op, r"create failed: .*cannot create resource")
            self.assertNotIn("AddressAllocated", self.events_of(svc))
        elif (res, verb) == ("events", "patch"):
            self.wait_log(op, r"patch failed: .*cannot patch resource")
            self.assertEqual(self.allocated_count(svc), 1)
        elif verb == "list":
            # The informer cannot sync: the replica never turns ready.
            port = op.port("health")
            code = self.cluster_local_status("http://127.0.0.1:%d/readyz" % port)
            self.assertNotEqual(code, 200)

    @staticmethod
    def log_line(op, pattern):
        for line in op.log().splitlines():
            if re.search(pattern, line):
                return line[-230:]
        return ""

    @staticmethod
    def cluster_local_status(url):
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def job_resumes(self, res, verb):
        pool, svc = self.current
        if (res, verb) == ("events", "create"):
            # The refused event was dropped (by design: events are best effort); a new one is
            # written now.
            svc = svc + "b"
            self.cluster.apply(self.service_obj(svc))
        self.wait_job_done(pool, svc)
        if (res, verb) == ("events", "patch"):
            self.reallocate(svc)
            eventually(lambda: self.allocated_count(svc) >= 2, timeout=60,
                       what="the repeated AddressAllocated event counted")

    def reallocate(self, svc):
        """Type ClusterIP (the API server clears the status, the address is released) and
        back: the same lowest address again, the same AddressAllocated event again."""
        before = ingress_ips(self.svc(svc))
        self.cluster.kubectl("patch", "service", "-n", NS, svc, "--type=merge", "-p", json.dumps(
            {"spec": {"type": "ClusterIP", "allocateLoadBalancerNodePorts": None}}))
        self.cluster.kubectl("patch", "service", "-n", NS, svc, "--type=merge", "-p", json.dumps(
            {"spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False}}))
        eventually(lambda: ingress_ips(self.svc(svc)) == before, timeout=60,
                   what="%s to get %s again" % (svc, before))

    def allocated_count(self, svc):
        return sum(e.get("count", 1) for e in self.cluster.get_json("events", "-n", NS)["items"]
                   if e["involvedObject"].get("name") == svc and
                   e.get("reason") == "AddressAllocated")

    def test_3_unused_permissions_are_not_needed(self):
        """The permissions the operator never uses, removed together: the whole job works."""
        unused = {name: {(res, verb) for _, res, verb in rules_of(role)} - USED
                  for name, role in self.roles.items()}
        sys.stderr.write("test_rbac: granted but never used by the operator: %s\n" %
                         sorted(p for s in unused.values() for p in s))
        n = self.new_case()
        self.stop_operator()
        for name, removed in unused.items():
            self.remove(name, removed)
        try:
            for name, removed in unused.items():
                role = self.roles[name]
                for i, res, verb in rules_of(role):
                    if (res, verb) in removed:
                        rule = role["rules"][i]
                        eventually(lambda: not self.can_i(rule["apiGroups"][0], res, verb, name,
                                                          rule),
                                   timeout=30, what="can-i %s %s to say no" % (verb, res))
            self.cluster.apply(self.pool_obj("u%d" % n, "10.250.%d.0/28" % n),
                               self.service_obj("u%d" % n))
            op = self.start_operator()
            self.wait_job_done("u%d" % n, "u%d" % n)
            self.assertNotRegex(op.log(), r"forbidden|cannot \w+ resource")
        finally:
            for name in unused:
                self.restore(name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
