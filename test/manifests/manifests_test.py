#!/usr/bin/python3
"""Checks the install manifests as a cluster would receive them.

Renders config/default and config/prometheus with `kubectl kustomize` (no cluster needed) and
checks the rendered objects against the user contract (API.md: "Running it", "RBAC it needs",
"Installing it") and against each other: the probes point at the ports that the flags open, the
selectors select the pods, the bindings name the ServiceAccount that the pods run as, the
ClusterRole holds exactly the documented rules and nothing is a wildcard.

Each check is a function returning a list of problems (strings), so that the tests below can
also feed it broken copies of the manifests and show that it notices (a check that cannot fail
proves nothing).

Run by ctest (label "manifests"); by hand: LBALLOC_SOURCE_DIR=. python3 test/manifests/manifests_test.py
Needs kubectl (its built-in kustomize) and python3-yaml.
"""

import copy
import os
import re
import shutil
import subprocess
import unittest

import yaml

SOURCE_DIR = os.environ.get(
    "LBALLOC_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
KUBECTL = os.environ.get("LBALLOC_KUBECTL") or shutil.which("kubectl")

NAMESPACE = "lballoc-system"
PREFIX = "lballoc-"

# API.md, "RBAC it needs (and no more)", without the Lease (a namespaced Role): (apiGroup,
# resource, verb). config/rbac/role.yaml must grant exactly these, cluster-wide.
EXPECTED_CLUSTER_RULES = {
    (g, r, v)
    for g, r, verbs in [
        ("", "services", ["get", "list", "watch"]),
        ("", "services/status", ["update", "patch"]),
        ("lballoc.io", "loadbalancerpools", ["get", "list", "watch"]),
        ("lballoc.io", "loadbalancerpools/status", ["update", "patch"]),
        ("", "namespaces", ["get", "list", "watch"]),
        ("", "events", ["create", "patch"]),
    ]
    for v in verbs
}
# The Lease, in the operator's own namespace.
EXPECTED_LEASE_RULES = {("coordination.k8s.io", "leases", v) for v in ["get", "create", "update"]}
# Verbs that RBAC can limit to named objects (create cannot be: the object has no name yet when
# the request is authorized).
NAMEABLE_VERBS = {"get", "update", "patch", "delete"}

# API.md, "Running it": the operator's flags and their defaults.
KNOWN_FLAGS = {
    "kubeconfig": "",
    "loadbalancer-class": "kube-router",
    "loadbalancer-default-class": "true",
    "leader-elect": "true",
    "leader-elect-lease-name": "lballoc",
    "leader-elect-lease-duration": "15s",
    "leader-elect-renew-deadline": "10s",
    "leader-elect-retry-period": "2s",
    "health-probe-bind-address": ":8081",
    "metrics-bind-address": ":8080",
}

# What config/default installs, (kind, name); nothing more, nothing less.
EXPECTED_DEFAULT_OBJECTS = {
    ("Namespace", NAMESPACE),
    ("CustomResourceDefinition", "loadbalancerpools.lballoc.io"),
    ("ServiceAccount", "lballoc-operator"),
    ("ClusterRole", "lballoc-operator-role"),
    ("ClusterRoleBinding", "lballoc-operator-rolebinding"),
    ("Role", "lballoc-leader-election-role"),
    ("RoleBinding", "lballoc-leader-election-rolebinding"),
    ("Deployment", "lballoc-operator"),
    ("PodDisruptionBudget", "lballoc-operator"),
}
CLUSTER_SCOPED_KINDS = {"Namespace", "CustomResourceDefinition", "ClusterRole",
                        "ClusterRoleBinding"}


def render(directory):
    """`kubectl kustomize config/<directory>`, parsed; raises with kubectl's stderr on failure."""
    if not KUBECTL:
        raise RuntimeError("kubectl not found (set LBALLOC_KUBECTL or put it on PATH)")
    proc = subprocess.run([KUBECTL, "kustomize", os.path.join(SOURCE_DIR, "config", directory)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl kustomize config/{directory} failed: {proc.stderr}")
    return [o for o in yaml.safe_load_all(proc.stdout) if o is not None]


def find(objects, kind, name=None):
    found = [o for o in objects
             if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name)]
    if len(found) != 1:
        raise AssertionError(f"expected one {kind} {name or ''}, found {len(found)}")
    return found[0]


def selector_matches(match_labels, labels):
    """matchLabels selects `labels` (and is not empty: an empty selector selects everything)."""
    return bool(match_labels) and all(labels.get(k) == v for k, v in match_labels.items())


def flag_args(container):
    """--name=value (or --name value) pairs from the container's args."""
    flags = {}
    args = list(container.get("args", []))
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise AssertionError(f"unexpected positional argument {arg!r}")
        if "=" in arg:
            name, value = arg[2:].split("=", 1)
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            name, value = arg[2:], args[i + 1]
            i += 1
        else:
            name, value = arg[2:], "true"
        flags[name] = value
        i += 1
    return flags


def bind_port(address):
    """The port of "host:port", ":port" or "port"; None when the server is off ("" or "0")."""
    if address in ("", "0"):
        return None
    port = address.rsplit(":", 1)[-1]
    return int(port)


def operator_container(deployment):
    containers = deployment["spec"]["template"]["spec"]["containers"]
    if len(containers) != 1:
        raise AssertionError(f"expected one container, found {len(containers)}")
    return containers[0]


def rule_triples(rule):
    return {(g, r, v) for g in rule.get("apiGroups", []) for r in rule.get("resources", [])
            for v in rule.get("verbs", [])}


# --- checks: each returns a list of problems ------------------------------------------------

def check_inventory(objects):
    problems = []
    got = [(o["kind"], o["metadata"]["name"]) for o in objects]
    if len(got) != len(set(got)):
        problems.append(f"duplicate objects: {sorted(got)}")
    if set(got) != EXPECTED_DEFAULT_OBJECTS:
        problems.append(f"objects differ: missing {sorted(EXPECTED_DEFAULT_OBJECTS - set(got))}, "
                        f"unexpected {sorted(set(got) - EXPECTED_DEFAULT_OBJECTS)}")
    for o in objects:
        kind, meta = o["kind"], o["metadata"]
        if kind in CLUSTER_SCOPED_KINDS:
            if "namespace" in meta:
                problems.append(f"{kind} {meta['name']} is cluster-scoped but has a namespace")
        elif meta.get("namespace") != NAMESPACE:
            problems.append(f"{kind} {meta['name']} is in namespace {meta.get('namespace')!r}, "
                            f"not {NAMESPACE}")
        if kind != "CustomResourceDefinition" and not meta["name"].startswith(PREFIX):
            problems.append(f"{kind} {meta['name']} lacks the name prefix {PREFIX}")
        if meta.get("labels", {}).get("app.kubernetes.io/part-of") != "lballoc":
            problems.append(f"{kind} {meta['name']} lacks the label app.kubernetes.io/part-of")
    return problems


def check_crd(objects):
    """The CRD installed is the one in crds/ (the one the C++ codec is tested against)."""
    with open(os.path.join(SOURCE_DIR, "crds", "lballoc.io_loadbalancerpools.yaml")) as f:
        source = yaml.safe_load(f)
    rendered = copy.deepcopy(find(objects, "CustomResourceDefinition"))
    rendered["metadata"].pop("labels", None)
    source["metadata"].pop("labels", None)
    return [] if rendered == source else ["the rendered CRD differs from crds/"]


def check_deployment(objects):
    problems = []
    dep = find(objects, "Deployment")
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"].get("labels", {})
    if spec.get("replicas") != 2:
        problems.append(f"replicas is {spec.get('replicas')}, not 2")
    match = spec["selector"].get("matchLabels", {})
    if spec["selector"].get("matchExpressions"):
        problems.append("the Deployment selector uses matchExpressions; keep it to matchLabels")
    if not selector_matches(match, pod_labels):
        problems.append(f"Deployment selector {match} does not select its pods {pod_labels}")

    # Replicas on different nodes: a hard spread over hostnames, or required anti-affinity.
    spread_ok = any(
        c.get("topologyKey") == "kubernetes.io/hostname"
        and c.get("whenUnsatisfiable") == "DoNotSchedule" and c.get("maxSkew") == 1
        and selector_matches(c.get("labelSelector", {}).get("matchLabels", {}), pod_labels)
        for c in pod.get("topologySpreadConstraints", []))
    anti = (pod.get("affinity", {}).get("podAntiAffinity", {})
            .get("requiredDuringSchedulingIgnoredDuringExecution", []))
    anti_ok = any(
        t.get("topologyKey") == "kubernetes.io/hostname"
        and selector_matches(t.get("labelSelector", {}).get("matchLabels", {}), pod_labels)
        for t in anti)
    if not (spread_ok or anti_ok):
        problems.append("nothing keeps the replicas on different nodes (no hard hostname "
                        "topology spread or required pod anti-affinity selecting the pods)")

    c = operator_container(dep)
    # Downward API.
    env = {e["name"]: e for e in c.get("env", [])}
    for name, field in [("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")]:
        got = env.get(name, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if got != field:
            problems.append(f"env {name} is not the downward API's {field} (got {got!r})")
    if env.get("GLOG_logtostderr", {}).get("value") != "1":
        problems.append("GLOG_logtostderr is not 1: glog would write files on a read-only root")

    # Flags: known ones only; the servers on; the Lease name that the Role allows.
    try:
        flags = flag_args(c)
    except AssertionError as e:
        return problems + [str(e)]
    for name in flags:
        if name not in KNOWN_FLAGS:
            problems.append(f"unknown flag --{name}")
    if flags.get("leader-elect", KNOWN_FLAGS["leader-elect"]) != "true":
        problems.append("leader election is off with 2 replicas")

    ports = {p.get("name"): p for p in c.get("ports", [])}
    for p in c.get("ports", []):
        if not p.get("name"):
            problems.append(f"container port {p.get('containerPort')} has no name")
    health_port = bind_port(flags.get("health-probe-bind-address",
                                      KNOWN_FLAGS["health-probe-bind-address"]))
    metrics_port = bind_port(flags.get("metrics-bind-address",
                                       KNOWN_FLAGS["metrics-bind-address"]))
    if health_port is None:
        problems.append("the health probe server is turned off, yet the probes need it")
    if metrics_port is None:
        problems.append("the metrics server is turned off")
    elif ports.get("metrics", {}).get("containerPort") != metrics_port:
        problems.append(f"port 'metrics' is {ports.get('metrics', {}).get('containerPort')}, "
                        f"--metrics-bind-address opens {metrics_port}")

    for probe, path in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")]:
        http = c.get(probe, {}).get("httpGet")
        if not http:
            problems.append(f"no {probe} httpGet")
            continue
        if http.get("path") != path:
            problems.append(f"{probe} path is {http.get('path')!r}, not {path}")
        port = http.get("port")
        if not isinstance(port, str):
            problems.append(f"{probe} uses port {port!r}; use the container port's name")
        elif port not in ports:
            problems.append(f"{probe} port {port!r} is not a port the container declares")
        elif ports[port].get("containerPort") != health_port:
            problems.append(f"{probe} port {port!r} is {ports[port].get('containerPort')}, "
                            f"--health-probe-bind-address opens {health_port}")
        if http.get("scheme", "HTTP") != "HTTP":
            problems.append(f"{probe} scheme is not HTTP")

    # Resources: requests and limits for CPU and memory.
    res = c.get("resources", {})
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in res.get(kind, {}):
                problems.append(f"no {kind}.{r}")

    # Image: the one config/default names.
    if not c.get("image", "").startswith("lballoc-operator"):
        problems.append(f"image {c.get('image')!r} is not lballoc-operator")
    return problems


def memory_bytes(q):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    m = re.fullmatch(r"(\d+)([KMG]i?)?", str(q))
    if not m:
        raise AssertionError(f"cannot read memory quantity {q!r}")
    return int(m.group(1)) * units.get(m.group(2) or "", 1)


def check_security(objects):
    problems = []
    dep = find(objects, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    psc = pod.get("securityContext", {})
    c = operator_container(dep)
    csc = c.get("securityContext", {})

    def effective(key):
        return csc.get(key, psc.get(key))

    if effective("runAsNonRoot") is not True:
        problems.append("runAsNonRoot is not true")
    uid = effective("runAsUser")
    if not isinstance(uid, int) or uid == 0:
        problems.append(f"runAsUser is {uid!r}, not a numeric non-root user")
    if csc.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem is not true")
    if csc.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if csc.get("privileged"):
        problems.append("the container is privileged")
    caps = csc.get("capabilities", {})
    if caps.get("drop") != ["ALL"] or caps.get("add"):
        problems.append(f"capabilities are {caps}, not drop [ALL] and no add")
    seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    if seccomp != "RuntimeDefault":
        problems.append(f"seccompProfile is {seccomp!r}, not RuntimeDefault")
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(host):
            problems.append(f"{host} is set")
    for v in pod.get("volumes", []):
        if "hostPath" in v:
            problems.append(f"volume {v.get('name')} is a hostPath")
    res = c.get("resources", {})
    try:
        if memory_bytes(res["requests"]["memory"]) > memory_bytes(res["limits"]["memory"]):
            problems.append("memory request above its limit")
    except KeyError:
        pass  # reported by check_deployment
    return problems


def check_pdb(objects):
    problems = []
    dep = find(objects, "Deployment")
    pdb = find(objects, "PodDisruptionBudget")
    pod_labels = dep["spec"]["template"]["metadata"].get("labels", {})
    match = pdb["spec"].get("selector", {}).get("matchLabels", {})
    if match != dep["spec"]["selector"].get("matchLabels"):
        problems.append(f"PDB selector {match} is not the Deployment's selector")
    if not selector_matches(match, pod_labels):
        problems.append("PDB selector does not select the operator's pods")
    replicas = dep["spec"].get("replicas", 1)
    min_available = pdb["spec"].get("minAvailable")
    max_unavailable = pdb["spec"].get("maxUnavailable")
    if min_available is not None:
        # At least one replica kept, and drains still possible.
        if not isinstance(min_available, int) or not 1 <= min_available < replicas:
            problems.append(f"PDB minAvailable {min_available!r} with {replicas} replicas")
    elif max_unavailable is None or max_unavailable != 1:
        problems.append("PDB sets neither minAvailable nor maxUnavailable 1")
    return problems


def check_no_wildcards(objects):
    problems = []
    for o in objects:
        if o["kind"] not in ("Role", "ClusterRole"):
            continue
        if "aggregationRule" in o:
            problems.append(f"{o['kind']} {o['metadata']['name']} aggregates other roles")
        for rule in o.get("rules", []):
            for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                for item in rule.get(field, []):
                    if "*" in item:
                        problems.append(f"{o['kind']} {o['metadata']['name']}: wildcard "
                                        f"{item!r} in {field}")
    return problems


def check_cluster_role(objects):
    problems = []
    role = find(objects, "ClusterRole")
    got = set()
    for rule in role.get("rules", []):
        if rule.get("resourceNames") or rule.get("nonResourceURLs"):
            problems.append(f"unexpected resourceNames/nonResourceURLs in {rule}")
        got |= rule_triples(rule)
    if got != EXPECTED_CLUSTER_RULES:
        problems.append(f"ClusterRole rules differ from API.md: extra {sorted(got - EXPECTED_CLUSTER_RULES)}, "
                        f"missing {sorted(EXPECTED_CLUSTER_RULES - got)}")
    return problems


def check_lease_role(objects):
    problems = []
    role = find(objects, "Role")
    if role["metadata"].get("namespace") != NAMESPACE:
        problems.append(f"the Lease Role is in {role['metadata'].get('namespace')!r}")
    flags = flag_args(operator_container(find(objects, "Deployment")))
    lease = flags.get("leader-elect-lease-name", KNOWN_FLAGS["leader-elect-lease-name"])
    got = set()
    for rule in role.get("rules", []):
        triples = rule_triples(rule)
        got |= triples
        names = rule.get("resourceNames")
        for verb in rule.get("verbs", []):
            if verb in NAMEABLE_VERBS and names != [lease]:
                problems.append(f"Role verb {verb} is not limited to the Lease {lease!r} "
                                f"(resourceNames {names})")
            if verb == "create" and names:
                problems.append("create with resourceNames never matches: RBAC does not know "
                                "the name of an object being created")
    if got != EXPECTED_LEASE_RULES:
        problems.append(f"Role rules: extra {sorted(got - EXPECTED_LEASE_RULES)}, "
                        f"missing {sorted(EXPECTED_LEASE_RULES - got)}")
    return problems


def check_bindings(objects):
    problems = []
    dep = find(objects, "Deployment")
    sa_name = dep["spec"]["template"]["spec"].get("serviceAccountName")
    sa_ns = dep["metadata"]["namespace"]
    sas = [o for o in objects if o["kind"] == "ServiceAccount"
           and o["metadata"]["name"] == sa_name and o["metadata"].get("namespace") == sa_ns]
    if not sas:
        problems.append(f"the Deployment runs as ServiceAccount {sa_name!r}, which is not installed")
    if dep["spec"]["template"]["spec"].get("automountServiceAccountToken") is False:
        problems.append("the service-account token is not mounted; in-cluster access needs it")
    want_subject = [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_ns}]
    for kind, role_kind in [("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")]:
        binding = find(objects, kind)
        ref = binding["roleRef"]
        if ref.get("kind") != role_kind or ref.get("apiGroup") != "rbac.authorization.k8s.io":
            problems.append(f"{kind} refers to a {ref.get('kind')}")
        roles = [o for o in objects if o["kind"] == role_kind
                 and o["metadata"]["name"] == ref.get("name")]
        if len(roles) != 1:
            problems.append(f"{kind} refers to {role_kind} {ref.get('name')!r}, not installed")
        elif kind == "RoleBinding" and (roles[0]["metadata"].get("namespace")
                                        != binding["metadata"].get("namespace")):
            problems.append("the RoleBinding and its Role are in different namespaces")
        if binding.get("subjects") != want_subject:
            problems.append(f"{kind} subjects {binding.get('subjects')} are not {want_subject}")
    return problems


def check_dockerfile(objects):
    """The image's entrypoint and user are the ones the Deployment assumes."""
    problems = []
    with open(os.path.join(SOURCE_DIR, "config", "image", "Dockerfile")) as f:
        text = f.read()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    if not stages or not stages[0].startswith("debian:bookworm"):
        problems.append(f"the build stage is {stages[:1]}, not debian:bookworm")
    final = text[text.rfind("\nFROM "):]
    entry = re.search(r'^ENTRYPOINT\s+\["([^"]+)"\]', final, re.M)
    user = re.search(r"^USER\s+(\d+)(?::(\d+))?\s*$", final, re.M)
    c = operator_container(find(objects, "Deployment"))
    psc = find(objects, "Deployment")["spec"]["template"]["spec"].get("securityContext", {})
    if not entry or c.get("command") != [entry.group(1)]:
        problems.append(f"Deployment command {c.get('command')} is not the image's entrypoint "
                        f"{entry.group(1) if entry else None}")
    if not user:
        problems.append("the runtime stage has no numeric USER")
    elif int(user.group(1)) != c.get("securityContext", {}).get("runAsUser",
                                                                  psc.get("runAsUser")):
        problems.append(f"image user {user.group(1)} is not the Deployment's runAsUser")
    if re.search(r"^(RUN|SHELL)\b", final, re.M):
        problems.append("the runtime stage runs commands: it has no shell")
    return problems


DEFAULT_CHECKS = [check_inventory, check_crd, check_deployment, check_security, check_pdb,
                  check_no_wildcards, check_cluster_role, check_lease_role, check_bindings,
                  check_dockerfile]


def check_prometheus(objects, default_objects):
    problems = []

    def key(o):
        return (o["kind"], o["metadata"]["name"])

    base = {key(o): o for o in default_objects}
    extra = [o for o in objects if key(o) not in base]
    for o in objects:
        if key(o) in base and o != base[key(o)]:
            problems.append(f"the overlay changes {key(o)} of config/default")
    if not set(base) <= {key(o) for o in objects}:
        problems.append("the overlay drops objects of config/default")
    kinds = sorted(o["kind"] for o in extra)
    if kinds != ["Service", "ServiceMonitor"]:
        return problems + [f"the overlay adds {kinds}, not a Service and a ServiceMonitor"]
    svc = next(o for o in extra if o["kind"] == "Service")
    mon = next(o for o in extra if o["kind"] == "ServiceMonitor")
    dep = base[("Deployment", "lballoc-operator")]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    ports = {p["name"]: p for p in operator_container(dep)["ports"]}
    for o in (svc, mon):
        if o["metadata"].get("namespace") != NAMESPACE:
            problems.append(f"{o['kind']} is not in {NAMESPACE}")
    if not selector_matches(svc["spec"].get("selector", {}), pod_labels):
        problems.append("the metrics Service does not select the operator's pods")
    svc_ports = {p.get("name"): p for p in svc["spec"].get("ports", [])}
    metrics = svc_ports.get("metrics")
    if not metrics:
        problems.append("the metrics Service has no port named metrics")
    elif metrics.get("targetPort") not in ("metrics", ports["metrics"]["containerPort"]):
        problems.append(f"the metrics Service targets {metrics.get('targetPort')!r}, "
                        "not the container's metrics port")
    if not selector_matches(mon["spec"].get("selector", {}).get("matchLabels", {}),
                            svc["metadata"].get("labels", {})):
        problems.append("the ServiceMonitor does not select the metrics Service")
    if NAMESPACE not in mon["spec"].get("namespaceSelector", {}).get("matchNames", [NAMESPACE]):
        problems.append("the ServiceMonitor looks in another namespace")
    eps = mon["spec"].get("endpoints", [])
    if not eps or eps[0].get("port") not in svc_ports or eps[0].get("path", "/metrics") != "/metrics":
        problems.append(f"the ServiceMonitor endpoint {eps[:1]} is not the Service's metrics port "
                        "at /metrics")
    return problems


# --- tests ----------------------------------------------------------------------------------

class RenderedDefault(unittest.TestCase):
    """config/default as rendered: every check passes."""

    @classmethod
    def setUpClass(cls):
        cls.objects = render("default")

    def test_renders_something(self):
        self.assertGreater(len(self.objects), 5)

    def test_checks(self):
        for check in DEFAULT_CHECKS:
            with self.subTest(check=check.__name__):
                self.assertEqual(check(self.objects), [])

    def test_no_service_monitor_in_default(self):
        # The Prometheus Operator's CRDs are not everywhere; default must apply without them.
        self.assertFalse([o for o in self.objects if o["kind"] == "ServiceMonitor"])


class RenderedPrometheus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objects = render("prometheus")
        cls.default = render("default")

    def test_overlay(self):
        self.assertEqual(check_prometheus(self.objects, self.default), [])

    def assertNoticed(self, mutate, fragment):
        objects = copy.deepcopy(self.objects)
        mutate(objects)
        problems = check_prometheus(objects, self.default)
        self.assertTrue(any(fragment in p for p in problems), f"missed it; said {problems}")

    def test_notices_service_not_selecting_the_pods(self):
        def mutate(o):
            find(o, "Service")["spec"]["selector"]["app.kubernetes.io/component"] = "metrics"
        self.assertNoticed(mutate, "does not select the operator's pods")

    def test_notices_monitor_on_an_unknown_port(self):
        def mutate(o):
            find(o, "ServiceMonitor")["spec"]["endpoints"][0]["port"] = "http"
        self.assertNoticed(mutate, "endpoint")

    def test_notices_monitor_not_selecting_the_service(self):
        def mutate(o):
            find(o, "ServiceMonitor")["spec"]["selector"]["matchLabels"] = {"app": "x"}
        self.assertNoticed(mutate, "does not select the metrics Service")

    def test_notices_a_changed_base_object(self):
        def mutate(o):
            find(o, "Deployment")["spec"]["replicas"] = 1
        self.assertNoticed(mutate, "changes ('Deployment', 'lballoc-operator')")


class ChecksNoticeBreakage(unittest.TestCase):
    """Each check fails on a copy of the manifests broken on purpose."""

    @classmethod
    def setUpClass(cls):
        cls.good = render("default")

    def broken(self, mutate):
        objects = copy.deepcopy(self.good)
        mutate(objects)
        return objects

    def assertNoticed(self, check, mutate, fragment):
        problems = check(self.broken(mutate))
        self.assertTrue(any(fragment in p for p in problems),
                        f"{check.__name__} missed it; said {problems}")

    def dep(self, objects):
        return find(objects, "Deployment")

    def container(self, objects):
        return operator_container(self.dep(objects))

    def test_probe_on_a_port_the_flags_do_not_open(self):
        def mutate(o):
            c = self.container(o)
            c["args"] = [a.replace(":8081", ":9440") for a in c["args"]]
        self.assertNoticed(check_deployment, mutate, "--health-probe-bind-address opens 9440")

    def test_probe_on_an_undeclared_port(self):
        def mutate(o):
            self.container(o)["readinessProbe"]["httpGet"]["port"] = "probes"
        self.assertNoticed(check_deployment, mutate, "not a port the container declares")

    def test_wrong_probe_path(self):
        def mutate(o):
            self.container(o)["livenessProbe"]["httpGet"]["path"] = "/readyz"
        self.assertNoticed(check_deployment, mutate, "livenessProbe path")

    def test_metrics_port_mismatch(self):
        def mutate(o):
            c = self.container(o)
            c["args"] = [a.replace(":8080", ":8443") for a in c["args"]]
        self.assertNoticed(check_deployment, mutate, "--metrics-bind-address opens 8443")

    def test_missing_downward_api(self):
        def mutate(o):
            c = self.container(o)
            c["env"] = [e for e in c["env"] if e["name"] != "POD_NAMESPACE"]
        self.assertNoticed(check_deployment, mutate, "POD_NAMESPACE")

    def test_unknown_flag(self):
        def mutate(o):
            self.container(o)["args"].append("--zap-log-level=debug")
        self.assertNoticed(check_deployment, mutate, "unknown flag --zap-log-level")

    def test_selector_not_matching_pods(self):
        def mutate(o):
            self.dep(o)["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = "x"
        self.assertNoticed(check_deployment, mutate, "does not select its pods")

    def test_replicas_on_one_node(self):
        def mutate(o):
            self.dep(o)["spec"]["template"]["spec"].pop("topologySpreadConstraints")
        self.assertNoticed(check_deployment, mutate, "different nodes")

    def test_pdb_selector(self):
        def mutate(o):
            find(o, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] = {"app": "other"}
        self.assertNoticed(check_pdb, mutate, "PDB selector")

    def test_pdb_blocking_drains(self):
        def mutate(o):
            find(o, "PodDisruptionBudget")["spec"]["minAvailable"] = 2
        self.assertNoticed(check_pdb, mutate, "minAvailable 2")

    def test_security(self):
        cases = [
            (["securityContext", "readOnlyRootFilesystem"], False, "readOnlyRootFilesystem"),
            (["securityContext", "allowPrivilegeEscalation"], True, "allowPrivilegeEscalation"),
            (["securityContext", "capabilities"], {"drop": ["NET_RAW"]}, "capabilities"),
            (["securityContext", "runAsUser"], 0, "runAsUser"),
            (["securityContext", "seccompProfile"], {"type": "Unconfined"}, "seccompProfile"),
        ]
        for path, value, fragment in cases:
            with self.subTest(fragment=fragment):
                def mutate(o, path=path, value=value):
                    target = self.container(o)
                    for p in path[:-1]:
                        target = target[p]
                    target[path[-1]] = value
                self.assertNoticed(check_security, mutate, fragment)

    def test_wildcards(self):
        def mutate(o):
            find(o, "ClusterRole")["rules"][0]["verbs"] = ["*"]
        self.assertNoticed(check_no_wildcards, mutate, "wildcard '*' in verbs")

    def test_cluster_role_extra_rule(self):
        def mutate(o):
            find(o, "ClusterRole")["rules"].append(
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})
        self.assertNoticed(check_cluster_role, mutate, "extra [('', 'secrets', 'get')]")

    def test_cluster_role_missing_rule(self):
        def mutate(o):
            rules = find(o, "ClusterRole")["rules"]
            rules[:] = [r for r in rules if r["resources"] != ["events"]]
        self.assertNoticed(check_cluster_role, mutate, "missing [('', 'events', 'create')")

    def test_lease_role_not_limited_to_the_lease(self):
        def mutate(o):
            for r in find(o, "Role")["rules"]:
                r.pop("resourceNames", None)
        self.assertNoticed(check_lease_role, mutate, "not limited to the Lease 'lballoc'")

    def test_lease_role_name_differs_from_the_flag(self):
        def mutate(o):
            c = self.container(o)
            c["args"] = [a.replace("lease-name=lballoc", "lease-name=other") for a in c["args"]]
        self.assertNoticed(check_lease_role, mutate, "not limited to the Lease 'other'")

    def test_binding_to_another_service_account(self):
        def mutate(o):
            find(o, "RoleBinding")["subjects"][0]["name"] = "default"
        self.assertNoticed(check_bindings, mutate, "RoleBinding subjects")

    def test_binding_in_another_namespace(self):
        def mutate(o):
            find(o, "ClusterRoleBinding")["subjects"][0]["namespace"] = "kube-system"
        self.assertNoticed(check_bindings, mutate, "ClusterRoleBinding subjects")

    def test_object_outside_the_namespace(self):
        def mutate(o):
            find(o, "Role")["metadata"]["namespace"] = "default"
        self.assertNoticed(check_inventory, mutate, "Role lballoc-leader-election-role is in")

    def test_unexpected_object(self):
        def mutate(o):
            o.append({"kind": "Secret", "metadata": {"name": "lballoc-x", "namespace": NAMESPACE,
                                                     "labels": {"app.kubernetes.io/part-of": "lballoc"}}})
        self.assertNoticed(check_inventory, mutate, "unexpected [('Secret', 'lballoc-x')]")

    def test_crd_not_the_one_in_crds(self):
        def mutate(o):
            find(o, "CustomResourceDefinition")["spec"]["scope"] = "Namespaced"
        self.assertNoticed(check_crd, mutate, "differs from crds/")

    def test_command_not_the_entrypoint(self):
        def mutate(o):
            self.container(o)["command"] = ["/manager"]
        self.assertNoticed(check_dockerfile, mutate, "not the image's entrypoint")


class UserGuideAgrees(unittest.TestCase):
    """docs/user-guide.md's flag table lists the flags and defaults the manifests are checked
    against (KNOWN_FLAGS, from API.md), so the guide and the Deployment cannot drift apart."""

    def test_flag_table(self):
        with open(os.path.join(SOURCE_DIR, "docs", "user-guide.md")) as f:
            rows = re.findall(r"^\| `--([a-z-]+)` \| ([^|]*) \|", f.read(), re.M)
        documented = {name: default.strip().strip("`") for name, default in rows}
        documented.pop("version", None)  # no default: it prints and exits
        self.assertEqual(documented.get("kubeconfig"), "unset")
        documented["kubeconfig"] = ""
        self.assertEqual(documented, KNOWN_FLAGS)


class Helpers(unittest.TestCase):
    def test_bind_port(self):
        self.assertEqual(bind_port(":8081"), 8081)
        self.assertEqual(bind_port("127.0.0.1:8080"), 8080)
        self.assertEqual(bind_port("9000"), 9000)
        self.assertIsNone(bind_port("0"))
        self.assertIsNone(bind_port(""))

    def test_flag_args(self):
        self.assertEqual(flag_args({"args": ["--a=1", "--b", "2", "--c"]}),
                         {"a": "1", "b": "2", "c": "true"})

    def test_memory(self):
        self.assertEqual(memory_bytes("64Mi"), 64 * 2**20)
        self.assertEqual(memory_bytes("1G"), 10**9)


if __name__ == "__main__":
    unittest.main(verbosity=2)
