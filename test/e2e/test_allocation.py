#!/usr/bin/python3
"""e2e: how Services get, keep and lose addresses (API.md "How a Service asks", "Rules that keep
addresses stable"), with one operator and one API server for the file, kubectl for every
change. Each case has its own namespace and address block; its pools only select its namespace."""

import unittest

from lballoc_e2e import ALLOCATED, E2ECase, condition, eventually, ingress_ips, pool, service


class AllocationTest(E2ECase):

    def test_allocation_and_release(self):
        b = self.v4()
        p = self.add_pool("p", ["%s.10-%s.13" % (b, b)])
        self.add_service("a")
        self.assertEqual(self.wait_ips("a"), ["%s.10" % b])
        c = self.wait_condition("a", "True", "Allocated")
        self.assertIn("%s.10" % b, c["message"])
        self.wait_event("a", "AddressAllocated")
        eventually(lambda: self.lbpool(p)["status"].get("allocated") == 1,
                   what="pool status allocated=1")
        st = self.lbpool(p)["status"]
        self.assertEqual((st["total"], st["available"]), (4, 3))
        self.assertEqual((st["ipv4"]["allocated"], st["ipv4"]["available"]), (1, 3))
        self.assertEqual(condition(self.lbpool(p), "Ready")["status"], "True")

        self.add_service("b")
        self.assertEqual(self.wait_ips("b"), ["%s.11" % b])

        eventually(lambda: self.lbpool(p)["status"].get("allocated") == 2,
                   what="pool status allocated=2")

        # Stops being handled while it exists (the API server clears status.loadBalancer when
        # the type changes): the address is freed and goes to the next Service.
        self.kubectl("patch", "service", "-n", self.ns, "a", "--type=merge",
                     "-p", '{"spec":{"type":"ClusterIP"}}')
        self.wait_ips("a", 0)
        eventually(lambda: self.lbpool(p)["status"].get("allocated") == 1,
                   what="pool status allocated=1 after a stopped being handled")
        self.add_service("c")
        self.assertEqual(self.wait_ips("c"), ["%s.10" % b])
        # Deleted: released too.
        self.kubectl("delete", "service", "-n", self.ns, "b")
        eventually(lambda: self.lbpool(p)["status"].get("allocated") == 1,
                   what="pool status allocated=1 after b was deleted")
        self.add_service("d")
        self.assertEqual(self.wait_ips("d"), ["%s.11" % b])

    def test_exhaustion_then_reuse_after_a_delete(self):
        b = self.v4()
        p = self.add_pool("small", ["%s.1-%s.2" % (b, b)])
        self.add_service("one")
        self.add_service("two")
        self.wait_ips("one")
        self.wait_ips("two")
        self.add_service("three")
        c = self.wait_condition("three", "False", "PoolExhausted")
        self.assertIn(p, c["message"])
        self.wait_event("three", "AllocationFailed")
        self.wait_pool_condition(p, "Exhausted", "True", "NoAddressesAvailable")
        freed = ingress_ips(self.svc("one"))
        self.kubectl("delete", "service", "-n", self.ns, "one")
        self.assertEqual(self.wait_ips("three"), freed)
        self.wait_condition("three", "True", "Allocated")

    def test_requested_addresses(self):
        b = self.v4()
        self.add_pool("main", ["%s.0/28" % b])
        disabled = self.add_pool("off", ["%s.100-%s.103" % (b, b)], disabled=True)
        # Free: given as asked, not the lowest.
        self.add_service("free", annotations={"lballoc.io/ips": "%s.7" % b})
        self.assertEqual(self.wait_ips("free"), ["%s.7" % b])
        # The deprecated spec.loadBalancerIP works the same.
        self.add_service("legacy", load_balancer_ip="%s.8" % b)
        self.assertEqual(self.wait_ips("legacy"), ["%s.8" % b])
        # In use by another Service (no sharing key): refused, the holder keeps it.
        self.add_service("taken", annotations={"lballoc.io/ips": "%s.7" % b})
        c = self.wait_condition("taken", "False", "AddressInUse")
        self.assertIn("%s.7" % b, c["message"])
        self.assertEqual(ingress_ips(self.svc("taken")), [])
        # Outside every pool.
        self.add_service("outside", annotations={"lballoc.io/ips": "192.0.2.200"})
        c = self.wait_condition("outside", "False", "AddressNotInPool")
        self.assertIn("192.0.2.200", c["message"])
        # In a disabled pool.
        self.add_service("in-disabled", annotations={"lballoc.io/ips": "%s.101" % b})
        c = self.wait_condition("in-disabled", "False", "AddressNotInPool")
        self.assertIn(disabled, c["message"])
        self.assertIn("disabled", c["message"])
        # Annotation and spec.loadBalancerIP set and different.
        self.add_service("both", annotations={"lballoc.io/ips": "%s.9" % b},
                         load_balancer_ip="%s.10" % b)
        self.wait_condition("both", "False", "InvalidRequest")
        # Freed when the holder goes: the waiting Service gets it.
        self.kubectl("delete", "service", "-n", self.ns, "free")
        self.assertEqual(self.wait_ips("taken"), ["%s.7" % b])

    def test_requested_pool_including_auto_assign_false(self):
        b = self.v4()
        self.add_pool("general", ["%s.10-%s.19" % (b, b)])
        special = self.add_pool("special", ["%s.100-%s.101" % (b, b)], auto_assign=False)
        # Not named: the autoAssign: false pool is never used.
        self.add_service("plain")
        self.assertEqual(self.wait_ips("plain"), ["%s.10" % b])
        # Named: used, even though autoAssign is false.
        self.add_service("named", annotations={"lballoc.io/pool": special})
        self.assertEqual(self.wait_ips("named"), ["%s.100" % b])
        # A missing pool: nothing, and the message says so.
        self.add_service("missing", annotations={"lballoc.io/pool": "no-such-pool"})
        c = self.wait_condition("missing", "False", "NoEligiblePool")
        self.assertIn("no-such-pool", c["message"])
        # Naming a pool later moves the Service there (its old address is no longer valid).
        self.kubectl("annotate", "service", "-n", self.ns, "plain", "lballoc.io/pool=" + special)
        eventually(lambda: ingress_ips(self.svc("plain")) == ["%s.101" % b],
                   what="plain to move to the named pool")

    def test_priority_order_then_name(self):
        b = self.v4()
        self.add_pool("b-late", ["%s.50-%s.50" % (b, b)], priority=5)
        self.add_pool("z-first", ["%s.60-%s.60" % (b, b)], priority=1)
        self.add_pool("a-first", ["%s.70-%s.70" % (b, b)], priority=1)
        self.add_service("s1")
        self.assertEqual(self.wait_ips("s1"), ["%s.70" % b])  # priority 1, name a-first
        self.add_service("s2")
        self.assertEqual(self.wait_ips("s2"), ["%s.60" % b])  # priority 1, then z-first
        self.add_service("s3")
        self.assertEqual(self.wait_ips("s3"), ["%s.50" % b])  # priority 5 last

    def test_service_selector_and_relabelling(self):
        b = self.v4()
        web = self.add_pool("web", ["%s.10-%s.11" % (b, b)],
                            service_selector={"matchLabels": {"team": "web"}})
        self.add_service("s")
        c = self.wait_condition("s", "False", "NoEligiblePool")
        self.assertIn(web, c["message"])
        self.kubectl("label", "service", "-n", self.ns, "s", "team=web")
        self.assertEqual(self.wait_ips("s"), ["%s.10" % b])
        # Relabelled out of the pool's selector: the address is no longer valid for it.
        self.kubectl("label", "service", "-n", self.ns, "s", "team=db", "--overwrite")
        self.wait_condition("s", "False", "NoEligiblePool")
        self.assertEqual(ingress_ips(self.svc("s")), [])
        eventually(lambda: self.lbpool(web)["status"].get("allocated") == 0,
                   what="the web pool to be empty again")

    def test_namespace_selector_and_relabelling(self):
        b = self.v4()
        prod = self.add_pool("prod", ["%s.20-%s.21" % (b, b)],
                             namespace_selector={"matchExpressions": [
                                 {"key": "env", "operator": "In", "values": ["prod"]}]})
        self.add_service("s")
        c = self.wait_condition("s", "False", "NoEligiblePool")
        self.assertIn(prod, c["message"])
        self.kubectl("label", "namespace", self.ns, "env=prod")
        self.assertEqual(self.wait_ips("s"), ["%s.20" % b])
        self.kubectl("label", "namespace", self.ns, "env=dev", "--overwrite")
        self.wait_condition("s", "False", "NoEligiblePool")
        self.assertEqual(ingress_ips(self.svc("s")), [])

    def test_sharing(self):
        b = self.v4()
        self.add_pool("p", ["%s.30-%s.39" % (b, b)])
        key = {"lballoc.io/sharing-key": "dns"}
        self.add_service("dns-tcp", annotations=key, ports=[(53, "TCP")])
        shared = self.wait_ips("dns-tcp")
        # Same key, no common (protocol, port): accepted on the same address.
        self.add_service("dns-udp", annotations=key, ports=[(53, "UDP")])
        self.assertEqual(self.wait_ips("dns-udp"), shared)
        # Same key but a port clash: refused the shared address.
        self.add_service("clash", annotations=dict(key, **{"lballoc.io/ips": shared[0]}),
                         ports=[(53, "TCP")])
        c = self.wait_condition("clash", "False", "AddressInUse")
        self.assertIn(shared[0], c["message"])
        # Without asking for it, the clashing Service just gets another address.
        self.add_service("clash2", annotations=key, ports=[(53, "UDP"), (54, "UDP")])
        other = self.wait_ips("clash2")
        self.assertNotEqual(other, shared)
        # Same key in another namespace: never shared across namespaces.
        other_ns = self.ns + "-x"
        self.server.create_namespace(other_ns, {"e2e-case": self.ns})
        self.server.apply(service(
            "dns-http", other_ns, annotations=dict(key, **{"lballoc.io/ips": shared[0]}),
            ports=[(80, "TCP")]))
        eventually(lambda: (condition(self.server.get_json("service", "-n", other_ns, "dns-http"),
                                      ALLOCATED) or {}).get("reason") == "AddressInUse",
                   what="the other namespace's Service to be refused")
        # Key change: dns-udp no longer shares with dns-tcp, so it moves; dns-tcp stays.
        self.kubectl("annotate", "service", "-n", self.ns, "dns-udp",
                     "lballoc.io/sharing-key=other", "--overwrite")
        moved = eventually(lambda: (ips := ingress_ips(self.svc("dns-udp"))) and ips != shared
                           and ips, what="dns-udp to move to its own address")
        self.assertNotEqual(moved, other)
        self.assertEqual(ingress_ips(self.svc("dns-tcp")), shared)

    def test_families(self):
        b = self.v4()
        v4 = self.add_pool("v4", ["%s.40-%s.49" % (b, b)])
        # SingleStack IPv6 with no IPv6 pool.
        self.add_service("six", families=["IPv6"], policy="SingleStack")
        c = self.wait_condition("six", "False", "FamilyUnavailable")
        self.assertIn(v4, c["message"])
        # RequireDualStack without both families: nothing at all.
        self.add_service("both", families=["IPv4", "IPv6"], policy="RequireDualStack")
        self.wait_condition("both", "False", "FamilyUnavailable")
        self.assertEqual(ingress_ips(self.svc("both")), [])
        # PreferDualStack: one family now.
        self.add_service("prefer", families=["IPv4", "IPv6"], policy="PreferDualStack")
        first = self.wait_ips("prefer")
        self.assertTrue(first[0].startswith(b + "."))
        # SingleStack takes the first family only.
        self.add_service("single", families=["IPv4"], policy="SingleStack")
        self.assertEqual(len(self.wait_ips("single")), 1)

        # An IPv6 pool appears: every Service gets what it asked for, in ipFamilies order.
        v6 = self.v6()
        self.add_pool("v6", ["%s10-%s1f" % (v6, v6)])
        six = self.wait_ips("six")
        self.assertTrue(six[0].startswith(v6 + "1"), six)  # which of the three is first varies
        both = self.wait_ips("both", 2)
        self.assertTrue(both[0].startswith(b + ".") and ":" in both[1], both)
        prefer = self.wait_ips("prefer", 2)
        self.assertEqual(prefer[0], first[0])  # the first family's address stays
        self.assertIn(":", prefer[1])
        self.assertEqual(len(ingress_ips(self.svc("single"))), 1)

    def test_invalid_and_overlapping_pools(self):
        b = self.v4()
        bad = self.add_pool("bad", ["%s.1" % b, "%s.300" % b])
        c = self.wait_pool_condition(bad, "Ready", "False", "InvalidSpec")
        self.assertIn("%s.300" % b, c["message"])
        backwards = self.add_pool("backwards", ["%s.20-%s.10" % (b, b)])
        c = self.wait_pool_condition(backwards, "Ready", "False", "InvalidSpec")
        self.assertIn("%s.20-%s.10" % (b, b), c["message"])
        # creationTimestamp has whole seconds; on a tie the name decides, so the names sort in
        # creation order too.
        older = self.add_pool("a-older", ["%s.64/28" % b])
        self.wait_pool_condition(older, "Ready", "True", "Serving")
        newer = self.add_pool("b-newer", ["%s.70-%s.90" % (b, b)])
        c = self.wait_pool_condition(newer, "Ready", "False", "Overlap")
        self.assertIn(older, c["message"])
        # The older one keeps serving; the invalid and overlapping ones hand out nothing.
        self.add_service("s", annotations={"lballoc.io/pool": ",".join([bad, newer, older])})
        self.assertEqual(self.wait_ips("s"), ["%s.64" % b])
        # Fixing the spec makes the pool serve.
        self.server.apply(pool(bad, ["%s.1" % b, "%s.3" % b], self.ns))
        self.wait_pool_condition(bad, "Ready", "True", "Serving")

    def test_pool_shrink_and_delete_move_only_the_affected_services(self):
        b = self.v4()
        first = self.add_pool("first", ["%s.1-%s.4" % (b, b)], priority=1)
        self.add_pool("second", ["%s.101-%s.110" % (b, b)], priority=2)
        for name in ("a", "b", "c"):
            self.add_service(name)
        before = {name: self.wait_ips(name) for name in ("a", "b", "c")}
        self.assertEqual(before, {"a": ["%s.1" % b], "b": ["%s.2" % b], "c": ["%s.3" % b]})
        # Shrink: exclude b's address. b moves (to the lowest free address it may use), a and c
        # stay.
        self.server.apply(pool(
            first, ["%s.1-%s.4" % (b, b)], self.ns, exclude_addresses=["%s.2" % b], priority=1))
        moved = eventually(lambda: (ips := ingress_ips(self.svc("b"))) and ips != before["b"]
                           and ips, what="b to move")
        self.assertEqual(moved, ["%s.4" % b])
        released = self.wait_event("b", "AddressReleased")
        self.assertIn("%s.2" % b, released[0][2])
        self.assertEqual(ingress_ips(self.svc("a")), before["a"])
        self.assertEqual(ingress_ips(self.svc("c")), before["c"])
        # Delete the pool: all three move to the second pool; nothing else changes.
        self.add_service("other", annotations={"lballoc.io/ips": "%s.110" % b})
        self.assertEqual(self.wait_ips("other"), ["%s.110" % b])
        self.kubectl("delete", "lbpool", first)
        for name in ("a", "b", "c"):
            eventually(lambda: ingress_ips(self.svc(name))[0].startswith(b + ".10"),
                       what="%s to move to the second pool" % name)
        after = sorted(ingress_ips(self.svc(n))[0] for n in ("a", "b", "c"))
        self.assertEqual(after, ["%s.101" % b, "%s.102" % b, "%s.103" % b])
        self.assertEqual(ingress_ips(self.svc("other")), ["%s.110" % b])


if __name__ == "__main__":
    unittest.main(verbosity=2)
