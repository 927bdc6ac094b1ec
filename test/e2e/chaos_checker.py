"""The chaos test's judge: replays lballoc-apiserver's --audit-log (every committed write, in
commit order, with the object as stored after it and the user whose token made it) and checks
API.md's promises on every write:

  sharing     a replica's Service status write never gives a Service an address that another
              handled Service holds outside a valid sharing group (rule 5, "sharing one address"),
              unless the group was valid with that holder as it was before the user's last
              change of it (a race the replica cannot see yet; counted as sharing_races, and
              the end state must show it resolved);
  fencing     no replica writes anything but the Lease unless it is the Lease's holder at that
              moment (API.md "Running it": a replica that loses the lease stops writing at once;
              leader_election.h "Fencing");
  request     a replica never changes a Service's labels, annotations or spec (it writes
              status only);
  moves       an address leaves a handled Service only for a reason of API.md (rules 1-4): the
              Service's own request changed, the address stopped being valid for it (its pool
              shrank, excluded it or was deleted, or the Service stopped naming that pool), or
              it was found held twice without a valid sharing group (rule 2). A leader change, a
              restart or an edit of another pool is no reason.

final_problems() checks the quiet end state: no address held twice outside a sharing group,
every held address valid for its Service, every handled Service that can have an address has
one (judged from the pools' Ready conditions and per-family availability), and each pool's
status counts equal a recount of what the Services hold, for its current generation.

Pure Python, no I/O besides reading the log: test_chaos_checker.py feeds it synthetic logs that
break each rule, so that a checker that cannot fail is caught.
"""

import collections
import ipaddress
import json

LB_CLASS = "kube-router"
POOL_ANNOTATION = "lballoc.io/pool"
IPS_ANNOTATION = "lballoc.io/ips"
SHARING_ANNOTATION = "lballoc.io/sharing-key"
ALLOCATED = "lballoc.io/AddressAllocated"


# ---- Services ---------------------------------------------------------------------------------

def handled(svc):
    """API.md "Which Services are handled", with --loadbalancer-default-class=true."""
    spec = svc.get("spec") or {}
    return (spec.get("type") == "LoadBalancer" and
            spec.get("loadBalancerClass") in (None, "", "default", LB_CLASS))


def ingress_ips(svc):
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [i["ip"] for i in ingress if i.get("ip")]


def annotation(svc, key):
    return ((svc.get("metadata") or {}).get("annotations") or {}).get(key, "")


def requested(svc):
    text = annotation(svc, IPS_ANNOTATION) or (svc.get("spec") or {}).get("loadBalancerIP") or ""
    return [a.strip() for a in text.split(",") if a.strip()]


def named_pools(svc):
    return [p.strip() for p in annotation(svc, POOL_ANNOTATION).split(",") if p.strip()]


def request_of(svc):
    """What a Service asks for: anything that may legitimately move its address when changed."""
    meta = svc.get("metadata") or {}
    spec = dict(svc.get("spec") or {})
    for k in ("clusterIP", "clusterIPs", "healthCheckNodePort"):
        spec.pop(k, None)
    return json.dumps([meta.get("labels"), meta.get("annotations"), spec], sort_keys=True)


def port_set(svc):
    return {(p.get("protocol", "TCP"), p.get("port")) for p in (svc.get("spec") or {}).get("ports") or []}


def may_share(a, b):
    """API.md: same namespace, same key, no (protocol, port) used by both, the same
    externalTrafficPolicy, and with Local equal selectors."""
    key = annotation(a, SHARING_ANNOTATION)
    if not key or key != annotation(b, SHARING_ANNOTATION):
        return False
    if a["metadata"].get("namespace") != b["metadata"].get("namespace"):
        return False
    if port_set(a) & port_set(b):
        return False
    pa = (a.get("spec") or {}).get("externalTrafficPolicy") or "Cluster"
    pb = (b.get("spec") or {}).get("externalTrafficPolicy") or "Cluster"
    if pa != pb:
        return False
    if pa == "Local" and (a["spec"].get("selector") or {}) != (b["spec"].get("selector") or {}):
        return False
    return True


def families(svc):
    """The families a Service needs: (required, wanted) lists of "IPv4"/"IPv6"."""
    spec = svc.get("spec") or {}
    fams = list(spec.get("ipFamilies") or ["IPv4"])
    policy = spec.get("ipFamilyPolicy") or "SingleStack"
    if policy == "SingleStack":
        return fams[:1]
    return fams


def family_of(ip):
    return "IPv4" if ipaddress.ip_address(ip).version == 4 else "IPv6"


# ---- Pools ------------------------------------------------------------------------------------

def parse_entry(text):
    """(first, last) as ints with the family, from a CIDR, a range or one address."""
    text = text.strip()
    if "-" in text:
        lo, hi = (ipaddress.ip_address(p.strip()) for p in text.split("-", 1))
    elif "/" in text:
        net = ipaddress.ip_network(text, strict=True)
        lo, hi = net.network_address, net.broadcast_address
    else:
        lo = hi = ipaddress.ip_address(text)
    return (lo.version, int(lo), int(hi))


class Layout:
    """A pool's addresses minus its exclusions (avoidBuggyIPs is not used by the chaos test)."""

    def __init__(self, pool):
        spec = pool.get("spec") or {}
        self.ranges = [parse_entry(e) for e in spec.get("addresses") or []]
        self.excluded = [parse_entry(e) for e in spec.get("excludeAddresses") or []]

    def __contains__(self, ip):
        a = ipaddress.ip_address(ip)
        v, n = a.version, int(a)
        inside = any(v == rv and lo <= n <= hi for rv, lo, hi in self.ranges)
        return inside and not any(v == rv and lo <= n <= hi for rv, lo, hi in self.excluded)


def pool_condition(pool, ctype):
    for c in (pool.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


# ---- The replay -------------------------------------------------------------------------------

class Violation(collections.namedtuple("Violation", "check rv message")):
    def __str__(self):
        return "[%s] rv %s: %s" % (self.check, self.rv, self.message)


class Checker:
    def __init__(self, replicas, lease_namespace, lease_name):
        self.replicas = set(replicas)
        self.lease_key = (lease_namespace, lease_name)
        self.services = {}    # (ns, name) -> object
        self.pools = {}       # name -> object
        self.layouts = {}     # name -> Layout
        self.holder = ""      # the Lease's holderIdentity
        # (ns, name) -> {ip: reason it may move, or None}
        self.held = {}
        self.violations = []
        self.writes = 0
        self.replica_writes = collections.Counter()  # user -> writes (not the Lease)
        self.leader_changes = 0
        self.leaders = []     # holder identities in order
        self.moves = collections.Counter()  # reason -> count
        self.last_rv = 0      # of the last write, Lease renewals excluded
        # (ns, name) -> the Service as it was before the user's last change of its request
        self.before_change = {}
        self.sharing_races = 0

    # --- feeding ---

    def feed_line(self, line):
        line = line.strip()
        if line:
            self.feed(json.loads(line))

    def feed(self, w):
        self.writes += 1
        res, user, obj = w["resource"], w.get("user", ""), w.get("object")
        if res != "leases":
            self.last_rv = int(w.get("rv") or 0)
        key = (w.get("namespace", ""), w["name"])
        if user in self.replicas and res != "leases":
            self.replica_writes[user] += 1
            if user != self.holder:
                self._violate("fencing", w, "%s wrote %s %s/%s%s while the Lease holder is %r" %
                              (user, w["verb"], res, "/".join(k for k in key if k),
                               "/" + w["subresource"] if w.get("subresource") else "",
                               self.holder))
        if res == "leases" and key == self.lease_key:
            holder = ((obj or {}).get("spec") or {}).get("holderIdentity") or ""
            if holder != self.holder:
                if holder:
                    self.leader_changes += 1
                    self.leaders.append(holder)
                self.holder = holder
        elif res == "loadbalancerpools":
            self._pool_write(w, obj)
        elif res == "services":
            self._service_write(w, key, obj, user in self.replicas)

    def _violate(self, check, w, message):
        self.violations.append(Violation(check, w.get("rv"), message))

    # --- pools ---

    def _pool_write(self, w, obj):
        name = w["name"]
        old = self.pools.get(name)
        if obj is None:
            self.pools.pop(name, None)
            self.layouts.pop(name, None)
        else:
            self.pools[name] = obj
            if old is None or old.get("spec") != obj.get("spec"):
                self.layouts[name] = Layout(obj)
        if old is None or obj is None or old.get("spec") != obj.get("spec"):
            self._mark_invalid()

    def valid_for(self, svc, ip):
        """Rule 1: the address is in a pool the Service may use (any state), and requested by it
        when it requests addresses."""
        req = requested(svc)
        if req and ip not in req:
            return False
        names = named_pools(svc)
        return any(ip in layout for name, layout in self.layouts.items()
                   if not names or name in names)

    def _mark_invalid(self):
        for key, held in self.held.items():
            svc = self.services.get(key)
            for ip, reason in held.items():
                if reason is None and not self.valid_for(svc, ip):
                    held[ip] = "invalid"

    # --- services ---

    def holders(self, ip, but=None):
        return [k for k, s in self.services.items()
                if k != but and handled(s) and ip in ingress_ips(s)]

    def _service_write(self, w, key, obj, by_replica):
        old = self.services.get(key)
        if obj is None or (old is not None and
                           old["metadata"].get("uid") != obj["metadata"].get("uid")):
            self.services.pop(key, None)
            self.held.pop(key, None)  # deleted: released (rule 4)
            self.before_change.pop(key, None)
            if obj is None:
                return
            old = None
        self.services[key] = obj
        if not handled(obj):
            self.held.pop(key, None)  # no longer handled: released (rule 4)
            return
        held = self.held.setdefault(key, {})
        if old is not None and request_of(old) != request_of(obj):
            if not by_replica:
                self.before_change[key] = old
            if by_replica:
                self._violate("request", w, "a replica's write changed what %s/%s asks for "
                              "(labels, annotations or spec)" % key)
            for ip in held:
                held[ip] = held[ip] or "request changed"
        now = ingress_ips(obj)
        lost = {ip: held.pop(ip) for ip in list(held) if ip not in now}
        if (obj["spec"].get("ipFamilyPolicy") == "RequireDualStack" and
                any(r is not None for r in lost.values())):
            # All or nothing: losing one family releases the other.
            lost = {ip: r or "dual-stack all or nothing" for ip, r in lost.items()}
        for ip, reason in lost.items():
            if reason is None:
                self._violate("moves", w, "%s/%s lost %s without a reason of API.md "
                              "(its request did not change, the address stayed valid for "
                              "it, nobody else held it)" % (key[0], key[1], ip))
            else:
                self.moves[reason] += 1
        for ip in now:
            added = ip not in held
            if added:
                held[ip] = None if self.valid_for(obj, ip) else "invalid"
            for other in self.holders(ip, but=key):
                if may_share(obj, self.services[other]):
                    continue
                if added and by_replica:
                    before = self.before_change.get(other)
                    if before is not None and may_share(obj, before):
                        # A race with the user, not a mistake: the other holder's last change
                        # made the group invalid, and the replica decided on what it held
                        # before (its cache a few ms behind). API.md: the changed Service moves;
                        # the end state must show it resolved.
                        self.sharing_races += 1
                    else:
                        self._violate("sharing", w, "%s/%s was given %s, held by %s/%s outside "
                                      "a sharing group" % (key[0], key[1], ip, other[0], other[1]))
                held[ip] = held[ip] or "held twice"
                oh = self.held.get(other, {})
                if ip in oh:
                    oh[ip] = oh[ip] or "held twice"

    # --- the end ---

    def final_problems(self):
        problems = []
        handled_svcs = {k: s for k, s in self.services.items() if handled(s)}
        for key, svc in sorted(handled_svcs.items()):
            name = "%s/%s" % key
            ips = ingress_ips(svc)
            for ip in ips:
                for other in self.holders(ip, but=key):
                    if not may_share(svc, self.services[other]) and key < other:
                        problems.append("%s holds %s with %s/%s outside a sharing group" %
                                        (name, ip, other[0], other[1]))
                if not self.valid_for(svc, ip):
                    problems.append("%s holds %s, which is not valid for it" % (name, ip))
            problems += self._missing(name, svc, ips)
        problems += self._pool_counts(handled_svcs)
        return problems

    def _usable(self, pool_name, family):
        """A pool that would hand out an address of `family` now, from its status."""
        pool = self.pools.get(pool_name)
        ready = pool_condition(pool, "Ready") if pool else None
        if not ready or ready.get("status") != "True":
            return False
        if (pool.get("spec") or {}).get("disabled"):
            return False
        fam = (pool.get("status") or {}).get(family.lower()) or {}
        return int(fam.get("available") or 0) > 0

    def _missing(self, name, svc, ips):
        """A handled Service that could have an address of a family it needs, and has none."""
        need = families(svc)
        have = {family_of(ip) for ip in ips}
        policy = (svc.get("spec") or {}).get("ipFamilyPolicy") or "SingleStack"
        if policy == "RequireDualStack" and have and have != set(need):
            return ["%s (RequireDualStack) holds only %s" % (name, sorted(have))]
        req = requested(svc)
        if req:
            # Requested addresses that are free, in a Ready pool the Service may use, and that
            # its families can take: it must hold them.
            if ips:
                return []
            fams = {family_of(ip) for ip in req}
            if (len(fams) != len(req) or not fams <= set(need) or
                    (policy == "RequireDualStack" and len(fams) < 2)):
                return []
            names = named_pools(svc)
            if all(not self.holders(ip) and any(
                    ip in layout and (not names or p in names) and self._usable(p, family_of(ip))
                    for p, layout in self.layouts.items()) for ip in req):
                return ["%s requests free address(es) %s and holds none" % (name, req)]
            return []
        names = named_pools(svc)
        if names:
            candidates = [n for n in names if n in self.pools]
        else:
            candidates = [n for n, p in self.pools.items()
                          if (p.get("spec") or {}).get("autoAssign", True)]
        missing = [f for f in need if f not in have and
                   any(self._usable(p, f) for p in candidates)]
        if policy == "RequireDualStack" and not have:
            missing = missing if len(missing) == len(need) else []
        if missing:
            return ["%s holds %s but a pool it may use has a free %s address" %
                    (name, ips or "nothing", "/".join(missing))]
        return []

    def _condition(self, svc):
        for c in (svc.get("status") or {}).get("conditions") or []:
            if c.get("type") == ALLOCATED:
                return c.get("status")
        return None

    def _pool_counts(self, handled_svcs):
        held = set()
        for s in handled_svcs.values():
            held.update(ingress_ips(s))
        problems = []
        for name, pool in sorted(self.pools.items()):
            status = pool.get("status") or {}
            gen = pool["metadata"].get("generation")
            if status.get("observedGeneration") != gen:
                problems.append("pool %s: observedGeneration %s, generation %s" %
                                (name, status.get("observedGeneration"), gen))
                continue
            mine = [ip for ip in held if ip in self.layouts[name]]
            want = {"allocated": len(mine),
                    "ipv4": len([i for i in mine if family_of(i) == "IPv4"]),
                    "ipv6": len([i for i in mine if family_of(i) == "IPv6"])}
            got = {"allocated": status.get("allocated", 0),
                   "ipv4": (status.get("ipv4") or {}).get("allocated", 0),
                   "ipv6": (status.get("ipv6") or {}).get("allocated", 0)}
            if got != want:
                problems.append("pool %s: status counts %s, Services hold %s" % (name, got, want))
        return problems
