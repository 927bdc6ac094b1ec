#!/usr/bin/python3
"""e2e: addresses survive restarts and leader changes (API.md "Rules that keep addresses
stable", rules 1 and 2): a restart with many Services, a leader killed with SIGKILL while a
standby waits, and a restart that finds two Services showing one address."""

import os
import signal
import unittest

from lballoc_e2e import E2ECase, condition, eventually, ingress_ips, service

# How many Services the restart test creates (LBALLOC_E2E_SERVICES to change it).
MANY = int(os.environ.get("LBALLOC_E2E_SERVICES", "300"))


class FailoverTest(E2ECase):
    START_OPERATOR = False

    def services(self):
        """{name: (addresses, resourceVersion)} of every Service in the case's namespace."""
        items = self.server.get_json("services", "-n", self.ns)["items"]
        return {s["metadata"]["name"]: (ingress_ips(s), s["metadata"]["resourceVersion"])
                for s in items}

    def wait_all_allocated(self, count, timeout=120):
        def done():
            svcs = self.services()
            return svcs if len(svcs) == count and all(ips for ips, _ in svcs.values()) else None
        return eventually(done, timeout=timeout, interval=0.25,
                          what="%d Services in %s to have addresses" % (count, self.ns))

    def wait_replayed(self, op, count):
        """Until `op` (a new leader) has reconciled every Service once: each start of the
        controller replays the whole cache."""
        eventually(lambda: (op.metric("controller_runtime_reconcile_total", controller="service",
                                      result="success") or 0) >= count,
                   timeout=60, what="%s to reconcile %d Services" % (op.name, count))

    def test_restart_with_many_services_keeps_every_address(self):
        self.add_pool("big", ["%s.0/24" % self.v4(), "%s.0/24" % self.v4(100)])
        first = self.start_operator("restart-a", args=["--leader-elect-lease-name=" + self.ns])
        first.wait_leader()
        self.server.apply([service("s%03d" % i, self.ns) for i in range(MANY)])
        before = self.wait_all_allocated(MANY)
        addresses = [ips[0] for ips, _ in before.values()]
        self.assertEqual(len(set(addresses)), MANY, "an address was given twice")
        self.assertEqual(first.stop(), 0, first.log())

        second = self.start_operator("restart-b", args=["--leader-elect-lease-name=" + self.ns])
        second.wait_leader()
        self.wait_replayed(second, MANY)
        eventually(lambda: "%d Services hold addresses" % MANY in second.log(),
                   what="the rebuild to be logged")
        # Same addresses, and not even rewritten: every resourceVersion is unchanged.
        self.assertEqual(self.services(), before)
        # A new Service gets an address nobody holds.
        self.add_service("new")
        new = self.wait_ips("new")
        self.assertNotIn(new[0], addresses)
        self.assertEqual(second.stop(), 0, second.log())

    def test_leader_killed_standby_rebuilds_and_moves_nothing(self):
        self.add_pool("p", ["%s.0/24" % self.v4()])
        args = ["--leader-elect-lease-name=" + self.ns]
        leader = self.start_operator("kill-a", args=args)
        leader.wait_leader()
        standby = self.start_operator("kill-b", args=args)
        eventually(lambda: standby.metric("leader_election_master_status") == 0.0,
                   what="kill-b to run as a standby")
        self.server.apply([service("old%02d" % i, self.ns) for i in range(20)])
        before = self.wait_all_allocated(20)
        self.assertFalse(standby.is_leader())

        leader.kill()  # SIGKILL: no release, the standby waits out the 3 s lease
        standby.wait_leader(timeout=20)
        self.wait_replayed(standby, 20)
        self.assertIn("20 Services hold addresses", standby.log())
        self.server.apply([service("new%02d" % i, self.ns) for i in range(5)])
        after = self.wait_all_allocated(25)
        for name, (ips, rv) in before.items():
            self.assertEqual(after[name], (ips, rv), name)
        old = {ips[0] for ips, _ in before.values()}
        new = [after["new%02d" % i][0][0] for i in range(5)]
        self.assertEqual(len(set(new)), 5)
        self.assertFalse(old & set(new), "a new Service got an address an old one holds")
        self.assertEqual(standby.stop(), 0, standby.log())

    def test_restart_resolves_two_services_showing_one_address(self):
        b = self.v4()
        self.add_pool("p", ["%s.10-%s.19" % (b, b)])
        args = ["--leader-elect-lease-name=" + self.ns]
        op = self.start_operator("dup-a", args=args)
        op.wait_leader()
        self.add_service("older")
        held = self.wait_ips("older")
        self.add_service("younger")
        self.wait_ips("younger")
        self.assertEqual(op.stop(), 0, op.log())
        # While no operator runs, someone copies older's address into younger's status.
        self.kubectl("patch", "service", "-n", self.ns, "younger", "--subresource=status",
                     "--type=merge",
                     "-p", '{"status":{"loadBalancer":{"ingress":[{"ip":"%s"}]}}}' % held[0])
        self.assertEqual(ingress_ips(self.svc("younger")), held)

        op = self.start_operator("dup-b", args=args)
        op.wait_leader()
        # The older keeps it; the younger gets a new one, with a Warning event.
        moved = eventually(lambda: (ips := ingress_ips(self.svc("younger"))) and ips != held
                           and ips, what="younger to get a new address")
        self.assertNotEqual(moved, held)
        self.assertEqual(ingress_ips(self.svc("older")), held)
        warnings = self.wait_event("younger", "AllocationFailed")
        self.assertIn(held[0], warnings[0][2])
        self.assertEqual(condition(self.svc("younger"), "lballoc.io/AddressAllocated")["status"],
                         "True")
        self.assertEqual(op.stop(signal.SIGTERM), 0, op.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
