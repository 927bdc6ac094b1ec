#!/usr/bin/python3
"""Unit tests of chaos_checker.py: synthetic audit logs that break each rule must be caught, and
the legitimate cases (sharing, a move with a reason, a released address) must not be. Without
these, a chaos run that reports 0 violations would prove nothing."""

import copy
import unittest

from chaos_checker import Checker

REPLICAS = ["r0", "r1"]


def svc(name, ips=(), ns="ns", ports=((80, "TCP"),), key=None, uid=None, ann=None, **spec):
    annotations = dict(ann or {})
    if key:
        annotations["lballoc.io/sharing-key"] = key
    body = {"type": "LoadBalancer", "selector": {"app": name},
            "ports": [{"port": p, "protocol": proto} for p, proto in ports]}
    body.update(spec)
    return {"metadata": {"name": name, "namespace": ns, "uid": uid or "uid-" + name,
                         "annotations": annotations},
            "spec": body,
            "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}}


def pool(name, addresses, excluded=(), gen=1, status=None, **spec):
    body = {"addresses": list(addresses)}
    if excluded:
        body["excludeAddresses"] = list(excluded)
    body.update(spec)
    return {"metadata": {"name": name, "generation": gen}, "spec": body, "status": status or {}}


def lease(holder):
    return {"metadata": {"name": "lease", "namespace": "default"},
            "spec": {"holderIdentity": holder}}


class Log:
    def __init__(self):
        self.checker = Checker(REPLICAS, "default", "lease")
        self.rv = 0

    def write(self, user, resource, obj, name=None, ns=None, verb="update", sub=""):
        self.rv += 1
        meta = (obj or {}).get("metadata", {})
        self.checker.feed({"rv": str(self.rv), "verb": verb, "resource": resource,
                           "subresource": sub, "user": user,
                           "namespace": ns if ns is not None else meta.get("namespace", ""),
                           "name": name or meta["name"], "object": obj})

    def leader(self, holder):
        self.write(holder or "r0", "leases", lease(holder))

    def service(self, user, obj, **kw):
        self.write(user, "services", obj, sub="status" if user in REPLICAS else "", **kw)

    def checks(self):
        return [v.check for v in self.checker.violations]


def started():
    log = Log()
    log.write("admin", "loadbalancerpools", pool("p", ["10.0.0.0/24"]), ns="")
    log.leader("r0")
    return log


class CheckerTest(unittest.TestCase):
    def test_clean_history_has_no_violation(self):
        log = started()
        log.service("admin", svc("a"))
        log.service("r0", svc("a", ["10.0.0.1"]))
        log.service("admin", svc("b", key="k"))
        log.service("admin", svc("c", key="k", ports=((443, "TCP"),)))
        log.service("r0", svc("b", ["10.0.0.2"], key="k"))
        log.service("r0", svc("c", ["10.0.0.2"], key="k", ports=((443, "TCP"),)))
        log.leader("r1")
        log.service("r1", svc("a", ["10.0.0.1"]))  # rewritten, not moved
        log.service("admin", None, name="a", ns="ns", verb="delete")
        self.assertEqual(log.checks(), [])
        self.assertEqual(log.checker.leader_changes, 2)

    def test_an_address_given_twice_is_caught(self):
        log = started()
        log.service("admin", svc("a"))
        log.service("admin", svc("b"))
        log.service("r0", svc("a", ["10.0.0.1"]))
        log.service("r0", svc("b", ["10.0.0.1"]))
        self.assertEqual(log.checks(), ["sharing"])

    def test_sharing_needs_key_disjoint_ports_and_one_policy(self):
        for other in (dict(key="k2"), dict(key="k", ports=((53, "UDP"),)),
                      dict(key="k", externalTrafficPolicy="Local"),
                      dict(key="k", ns="elsewhere")):
            log = started()
            log.service("r0", svc("a", ["10.0.0.1"], key="k", ports=((53, "UDP"),)))
            log.service("r0", svc("b", ["10.0.0.1"], **other))
            self.assertEqual(log.checks(), ["sharing"], other)
            self.assertTrue(log.checker.final_problems(), other)

    def test_sharing_raced_by_a_user_change_is_excused_only_if_valid_before_it(self):
        log = started()
        log.service("r0", svc("a", ["10.0.0.1"], key="k", ports=((53, "UDP"),)))
        log.service("admin", svc("b", key="k", ports=((443, "TCP"),)))
        # a changes its ports to clash with b just before the replica, which saw the old a,
        # shares a's address with b.
        log.service("admin", svc("a", ["10.0.0.1"], key="k", ports=((443, "TCP"),)))
        log.service("r0", svc("b", ["10.0.0.1"], key="k", ports=((443, "TCP"),)))
        self.assertEqual(log.checks(), [])
        self.assertEqual(log.checker.sharing_races, 1)
        self.assertTrue(log.checker.final_problems())  # until a moves
        # Not excused when the group was invalid before the change as well.
        log.service("admin", svc("c", key="k2", ports=((81, "TCP"),)))
        log.service("admin", svc("c", key="k2", ports=((81, "TCP"),), ann={"x": "1"}))
        log.service("admin", svc("d", key="k2", ports=((81, "TCP"),)))
        log.service("r0", svc("c", ["10.0.0.5"], key="k2", ports=((81, "TCP"),), ann={"x": "1"}))
        log.service("r0", svc("d", ["10.0.0.5"], key="k2", ports=((81, "TCP"),)))
        self.assertEqual(log.checks(), ["sharing"])

    def test_a_write_by_a_replica_that_does_not_hold_the_lease_is_caught(self):
        log = started()
        log.service("admin", svc("a"))
        log.leader("r1")
        log.service("r0", svc("a", ["10.0.0.1"]))  # the old leader, awake after a pause
        self.assertEqual(log.checks(), ["fencing"])
        log.write("r1", "loadbalancerpools", pool("p", ["10.0.0.0/24"]), ns="", sub="status")
        self.assertEqual(log.checks(), ["fencing"])
        log.leader("")  # released: nobody may write
        log.write("r1", "events", {"metadata": {"name": "e", "namespace": "ns"}})
        self.assertEqual(log.checks(), ["fencing", "fencing"])

    def test_a_move_without_a_reason_is_caught(self):
        log = started()
        log.service("r0", svc("a", ["10.0.0.1"]))
        log.leader("r1")
        log.service("r1", svc("a", ["10.0.0.7"]))  # a leader change is no reason
        self.assertEqual(log.checks(), ["moves"])

    def test_moves_with_a_reason_are_not_violations(self):
        log = started()
        # Its request changed.
        log.service("r0", svc("a", ["10.0.0.1"]))
        log.service("admin", svc("a", ["10.0.0.1"], ann={"lballoc.io/ips": "10.0.0.9"}))
        log.service("r0", svc("a", ["10.0.0.9"], ann={"lballoc.io/ips": "10.0.0.9"}))
        # Its pool stopped containing it (even if it came back before the move).
        log.service("r0", svc("b", ["10.0.0.2"]))
        log.write("admin", "loadbalancerpools", pool("p", ["10.0.0.0/24"], ["10.0.0.2"], gen=2))
        log.write("admin", "loadbalancerpools", pool("p", ["10.0.0.0/24"], gen=3))
        log.service("r0", svc("b", ["10.0.0.3"]))
        # It was found held twice (rule 2): the younger moves.
        log.service("admin", svc("c", ["10.0.0.3"]))  # someone copied b's address
        log.service("r0", svc("c", ["10.0.0.4"]))
        self.assertEqual(log.checks(), [])
        self.assertEqual(dict(log.checker.moves),
                         {"request changed": 1, "invalid": 1, "held twice": 1})

    def test_a_replica_changing_what_a_service_asks_is_caught(self):
        log = started()
        log.service("admin", svc("a", ann={"x": "1"}))
        log.service("r0", svc("a", ["10.0.0.1"]))  # its status write dropped the annotation
        self.assertEqual(log.checks(), ["request"])

    def test_releases_are_not_moves(self):
        log = started()
        log.service("r0", svc("a", ["10.0.0.1"]))
        log.service("admin", svc("a", ["10.0.0.1"], loadBalancerClass="other"))
        log.service("r0", svc("b", ["10.0.0.1"]))  # a no longer handled: free
        log.service("admin", None, name="b", ns="ns", verb="delete")
        log.service("admin", svc("b", uid="second"))
        log.service("r0", svc("b", ["10.0.0.1"], uid="second"))
        self.assertEqual(log.checks(), [])

    def test_final_state(self):
        ready = {"type": "Ready", "status": "True"}
        status = {"observedGeneration": 1, "allocated": 1, "conditions": [ready],
                  "ipv4": {"allocated": 1, "available": 253}}
        log = started()
        log.write("r0", "loadbalancerpools", pool("p", ["10.0.0.0/24"], status=status), sub="status")
        log.service("r0", svc("a", ["10.0.0.1"]))
        self.assertEqual(log.checker.final_problems(), [])
        # A handled Service without an address while the pool has room.
        log.service("admin", svc("b"))
        self.assertEqual(len(log.checker.final_problems()), 1)
        self.assertIn("ns/b holds nothing", log.checker.final_problems()[0])
        # ... and once it holds one, the pool's count is stale.
        log.service("r0", svc("b", ["10.0.0.2"]))
        self.assertEqual(len(log.checker.final_problems()), 1)
        self.assertIn("pool p: status counts", log.checker.final_problems()[0])
        # An address outside every pool is not valid.
        st = copy.deepcopy(status)
        st["allocated"], st["ipv4"]["allocated"] = 2, 2
        log.write("r0", "loadbalancerpools", pool("p", ["10.0.0.0/24"], status=st), sub="status")
        self.assertEqual(log.checker.final_problems(), [])
        log.service("admin", svc("c", ann={"lballoc.io/pool": "p"}))
        log.service("r0", svc("c", ["10.9.9.9"], ann={"lballoc.io/pool": "p"}))
        self.assertIn("not valid", " ".join(log.checker.final_problems()))


if __name__ == "__main__":
    unittest.main(verbosity=2)
