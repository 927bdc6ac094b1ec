#!/usr/bin/python3
"""e2e: addresses survive restarts and leader changes (API.md "Rules that keep addresses
stable", rules 1 and 2): a restart with many Services, a leader killed with SIGKILL while a
standby waits, and a restart that finds two Services showing one address.

FailoverTimeTest measures the fail-over: from the leader's SIGKILL to the new leader's first
write, against the bar lease duration + 2 x retry period (the figure is in BENCHMARKS.md)."""

import datetime
import json
import os
import shutil
import signal
import statistics
import tempfile
import time
import unittest

from lballoc_e2e import (APISERVER, FAST_ELECTION, ApiServer, E2ECase, Operator, condition,
                         eventually, ingress_ips, pool, service)

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


def flag_seconds(name):
    """The value of one of FAST_ELECTION's duration flags, in seconds."""
    value = [a.split("=", 1)[1] for a in FAST_ELECTION if a.startswith(name + "=")][0]
    return float(value[:-2]) / 1000 if value.endswith("ms") else float(value[:-1])


@unittest.skipUnless(os.path.basename(APISERVER) == "lballoc-apiserver",
                     "needs lballoc-apiserver's --audit-log and --token-auth-file (this run uses "
                     "%s)" % os.path.basename(APISERVER))
class FailoverTimeTest(unittest.TestCase):
    """SIGKILL of the leader -> the new leader's first write (a Service status, a pool status or
    an Event: anything but the Lease), read from the server's audit log, which names the writer
    (one token per replica) and stamps each write. Repeated RUNS times (LBALLOC_FAILOVER_RUNS),
    the leader alternating between two replicas; the median must stay within the bar, each run
    within the bar with client-go's jitter on its retry periods; median and maximum printed."""

    RUNS = int(os.environ.get("LBALLOC_FAILOVER_RUNS", "5"))
    NAMES = ["fo-a", "fo-b"]

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="lballoc-failover-")
        tokens = os.path.join(self.dir, "tokens.csv")
        with open(tokens, "w") as f:
            f.writelines("%s-token,%s\n" % (n, n) for n in self.NAMES)
        self.audit_path = os.path.join(self.dir, "audit.jsonl")
        # TLS: kubectl sends no bearer token over plain HTTP.
        self.server = ApiServer(["--token=admin", "--token-auth-file=" + tokens, "--tls-self-signed",
                                 "--audit-log=" + self.audit_path])
        self.addCleanup(self.server.stop)
        with open(self.server.kubeconfig) as f:
            admin = f.read()
        for n in self.NAMES:
            with open(os.path.join(self.dir, n + ".kubeconfig"), "w") as f:
                f.write(admin.replace("token: admin", "token: %s-token" % n))
        self.server.install_crds()
        self.server.create_namespace("fo")
        self.server.apply(pool("fo", ["10.250.0.0/24"]))

    def tearDown(self):
        if os.environ.get("LBALLOC_E2E_KEEP") is None:
            self.server.cleanup()
            shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, name):
        op = Operator(self.server, name, args=[
            "--kubeconfig=" + os.path.join(self.dir, name + ".kubeconfig"),
            "--leader-elect-lease-name=failover"], metrics=True)
        self.addCleanup(op.cleanup)
        return op

    def writes(self):
        with open(self.audit_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    @staticmethod
    def stamp(w):
        return datetime.datetime.strptime(w["stageTimestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()

    def first_write(self, user, after, lease):
        """The first write by `user` committed after `after` (epoch seconds): of the Lease when
        lease, else of anything else."""
        for w in self.writes():
            if (w["user"] == user and self.stamp(w) > after and
                    (w["resource"] == "leases") == lease):
                return self.stamp(w)
        return None

    def test_new_leader_writes_within_lease_duration_plus_two_retry_periods(self):
        bar = flag_seconds("--leader-elect-lease-duration") + 2 * flag_seconds(
            "--leader-elect-retry-period")
        ops = {n: self.start(n) for n in self.NAMES}
        leader = eventually(lambda: [n for n, op in ops.items() if op.is_leader()],
                            what="a leader")[0]
        times, acquire = [], []
        for run in range(self.RUNS):
            standby = [n for n in self.NAMES if n != leader][0]
            eventually(lambda: ops[standby].metric("leader_election_master_status") == 0.0,
                       what="%s to run as a standby" % standby)
            # Some Services, so that the new leader has something to write.
            self.server.apply([service("r%d-s%d" % (run, i), "fo") for i in range(3)])
            eventually(lambda: all(ingress_ips(s) for s in self.server.get_json(
                "services", "-n", "fo")["items"]), what="every Service to have an address")
            time.sleep(0.6)  # at least one renewal after the last write: a typical kill moment
            killed_at = time.time()
            ops[leader].kill()
            # A change the new leader must act on as soon as it leads.
            self.server.apply(service("r%d-after" % run, "fo"))
            first = eventually(lambda: self.first_write(standby, killed_at, lease=False),
                               timeout=bar * 4, what="%s's first write" % standby)
            took = self.first_write(standby, killed_at, lease=True)
            times.append(first - killed_at)
            acquire.append(took - killed_at)
            print("failover run %d: %s killed, %s acquired the Lease after %.2f s, first write "
                  "after %.2f s (bar %.1f s)" % (run, leader, standby, acquire[-1], times[-1], bar))
            ops[leader] = self.start(leader)  # back as the standby of the next run
            leader = standby
        print("failover: %d runs (%d over the bar), SIGKILL -> new leader's first write: median "
              "%.2f s, max %.2f s; "
              "-> Lease acquired: median %.2f s, max %.2f s; bar lease duration + 2 x retry "
              "period = %.1f s (%s)" % (len(times), len([t for t in times if t > bar]),
                                        statistics.median(times), max(times),
                                        statistics.median(acquire), max(acquire), bar,
                                        " ".join(FAST_ELECTION)))
        # The bar holds for the typical fail-over (the median). A single run may pass it by
        # design: client-go's candidates wait retry_period x [1, 1 + 1.2) between attempts
        # (JitterUntil, jitter 1.2, leader_election.h), so each of the two retry periods of the
        # bar can stretch to 2.2 x; no run may pass that.
        self.assertLessEqual(statistics.median(times), bar,
                             "median fail-over %.2f s (runs %s)" % (statistics.median(times), times))
        jittered = flag_seconds("--leader-elect-lease-duration") + 2 * 2.2 * flag_seconds(
            "--leader-elect-retry-period")
        for i, t in enumerate(times):
            self.assertLessEqual(t, jittered, "run %d: the new leader's first write took %.2f s, "
                                 "more than the bar with jitter (%.1f s)" % (i, t, jittered))
        for name, op in ops.items():
            # The last one restarted must have installed its SIGTERM handler (it serves metrics
            # only after that) before it is asked to stop.
            eventually(lambda: op.metric("leader_election_master_status") is not None,
                       what="%s to run" % name)
            self.assertEqual(op.stop(), 0, op.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
