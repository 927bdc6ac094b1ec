#!/usr/bin/python3
"""e2e: lballoc-operator as a process: flags, exit codes, environment errors, signals and the
Lease, probes, and /metrics checked by promtool."""

import os
import signal
import subprocess
import unittest
import urllib.error
import urllib.request

from lballoc_e2e import (APISERVER, KUBECTL, OPERATOR, PROMTOOL, ApiServer, Operator, eventually,
                         pool, service)


def run_operator(args, env=None, timeout=30):
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("POD_NAME", "POD_NAMESPACE", "KUBECONFIG")}
    full_env.update(env or {})
    return subprocess.run([OPERATOR] + list(args), capture_output=True, text=True, env=full_env,
                          timeout=timeout)


class FlagsTest(unittest.TestCase):
    """What happens before the operator talks to any cluster."""

    def test_help_lists_every_flag_with_its_default_and_exits_0(self):
        r = run_operator(["--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        for flag, default in [("--kubeconfig", '""'), ("--loadbalancer-class", '"kube-router"'),
                              ("--loadbalancer-default-class", "true"), ("--leader-elect", "true"),
                              ("--leader-elect-lease-name", '"lballoc"'),
                              ("--leader-elect-lease-duration", '"15s"'),
                              ("--leader-elect-renew-deadline", '"10s"'),
                              ("--leader-elect-retry-period", '"2s"'),
                              ("--health-probe-bind-address", '":8081"'),
                              ("--metrics-bind-address", '":8080"')]:
            self.assertIn("%s (default %s)" % (flag, default), r.stdout)
        self.assertIn("--version", r.stdout)

    def test_version(self):
        r = run_operator(["--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^lballoc-operator \d+\.\d+\.\d+\n$")

    def test_bad_flags_exit_2_with_a_clear_error(self):
        cases = [
            (["--no-such-flag"], 'unknown flag "--no-such-flag"'),
            (["--leader-elect-lease-duration=15"], 'invalid duration "15": missing unit'),
            (["--leader-elect-retry-period=2 s"], "--leader-elect-retry-period"),
            (["--leader-elect-renew-deadline=20s"],
             "must be greater than --leader-elect-renew-deadline"),
            (["--leader-elect=perhaps"], 'invalid value "perhaps" for flag --leader-elect'),
            (["--metrics-bind-address=:http"], "--metrics-bind-address=:http"),
            (["--loadbalancer-class="], "--loadbalancer-class must not be empty"),
            (["positional"], 'unexpected argument "positional"'),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                r = run_operator(args, env={"POD_NAME": "p", "POD_NAMESPACE": "n"})
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(message, r.stderr)

    def test_missing_pod_name_or_namespace_exits_2_naming_the_variable(self):
        r = run_operator([], env={"POD_NAMESPACE": "default"})
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("POD_NAME is not set", r.stderr)
        r = run_operator([], env={"POD_NAME": "lballoc-0"})
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("POD_NAMESPACE is not set", r.stderr)

    def test_no_cluster_exits_2(self):
        r = run_operator(["--kubeconfig=/nonexistent/kubeconfig"],
                         env={"POD_NAME": "p", "POD_NAMESPACE": "n"})
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("/nonexistent/kubeconfig", r.stderr)


class RunningTest(unittest.TestCase):
    """A real API server; operators started and stopped around it."""

    @classmethod
    def setUpClass(cls):
        for path in (OPERATOR, APISERVER, KUBECTL):
            if not os.access(path, os.X_OK):
                raise AssertionError("missing executable %s (build it: make build)" % path)
        cls.server = ApiServer()
        cls.server.install_crds()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.cleanup()

    def start(self, *args, **kw):
        """An operator that is killed after the test whatever its outcome, so that a failed test
        leaves no leader behind to interfere with the next."""
        op = Operator(self.server, *args, **kw)
        self.addCleanup(op.cleanup)
        return op

    def lease(self, name="lballoc", namespace="default"):
        return self.server.get_json("lease", "-n", namespace, name)

    def holder(self, name="lballoc", namespace="default"):
        try:
            return self.lease(name, namespace)["spec"].get("holderIdentity", "")
        except subprocess.CalledProcessError:
            return None

    def test_sigterm_releases_the_lease_and_exits_0(self):
        op = self.start("term-0", args=["--leader-elect-lease-name=term"])
        op.wait_leader()
        self.assertEqual(self.holder("term"), "term-0")
        self.assertEqual(op.stop(signal.SIGTERM), 0, op.log())
        spec = self.lease("term")["spec"]
        self.assertEqual(spec.get("holderIdentity", ""), "")
        self.assertIn("released lease default/term", op.log())

    def test_sigint_is_a_clean_shutdown_too(self):
        op = self.start("int-0", args=["--leader-elect-lease-name=int"])
        op.wait_leader()
        self.assertEqual(op.stop(signal.SIGINT), 0, op.log())
        self.assertEqual(self.holder("int"), "")

    def test_lease_namespace_and_identity_come_from_the_environment(self):
        self.server.create_namespace("lballoc-system")
        op = self.start("env-pod-7", namespace="lballoc-system",
                      args=["--leader-elect-lease-name=envlease"])
        op.wait_leader()
        self.assertEqual(self.holder("envlease", "lballoc-system"), "env-pod-7")
        self.assertEqual(op.stop(), 0, op.log())

    def test_standby_takes_over_when_the_leader_is_killed(self):
        args = ["--leader-elect-lease-name=failover"]
        a = self.start("fo-a", args=args)
        a.wait_leader()
        b = self.start("fo-b", args=args)
        # The standby is ready (caches synced) but does not lead.
        eventually(lambda: b.metric("leader_election_master_status") == 0.0,
                   what="fo-b to run as a standby")
        self.assertEqual(self.holder("failover"), "fo-a")
        a.kill()
        # No release on SIGKILL: fo-b waits out the 3 s lease, then takes it.
        eventually(lambda: self.holder("failover") == "fo-b", timeout=20,
                   what="fo-b to take the lease")
        b.wait_leader(timeout=10)
        self.assertEqual(b.stop(), 0, b.log())

    def test_a_second_replica_after_a_clean_stop_leads_at_once(self):
        # The release (leaseDurationSeconds 1, no holder) lets the next candidate in at its first
        # try instead of after the 3 s lease.
        args = ["--leader-elect-lease-name=handover"]
        a = self.start("ho-a", args=args)
        a.wait_leader()
        self.assertEqual(a.stop(), 0, a.log())
        b = self.start("ho-b", args=args)
        b.wait_leader(timeout=10)
        self.assertEqual(b.stop(), 0, b.log())

    def test_probes_answer(self):
        op = self.start("probe-0", args=["--leader-elect-lease-name=probe"])
        port = op.port("health")

        def get(path):
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                            timeout=5) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code
        self.assertEqual(get("/healthz"), 200)
        eventually(lambda: get("/readyz") == 200, what="/readyz to pass")
        self.assertEqual(get("/nothing"), 404)
        self.assertEqual(op.stop(), 0, op.log())

    def test_port_in_use_is_a_runtime_failure_exit_1(self):
        first = self.start("port-a", args=["--leader-elect-lease-name=port"])
        port = first.port("metrics")
        second = self.start("port-b",
                          args=["--leader-elect-lease-name=port",
                                "--metrics-bind-address=127.0.0.1:%d" % port])
        self.assertEqual(second.wait(timeout=30), 1, second.log())
        self.assertIn("metrics server", second.log())
        self.assertEqual(first.stop(), 0, first.log())

    def test_logs_never_show_the_token(self):
        server = ApiServer(["--token=e2e-s3cret-t0ken", "--tls-self-signed"])
        try:
            server.install_crds()
            op = Operator(server, "tok-0", args=["--v=2"])
            self.addCleanup(op.cleanup)
            op.wait_leader()
            server.apply(pool("tok-pool", ["10.250.0.0/30"]))
            server.apply(service("tok-svc", "default"))
            self.assertEqual(op.stop(), 0, op.log())
            self.assertNotIn("e2e-s3cret-t0ken", op.log())
        finally:
            server.stop()
            server.cleanup()

    def test_metrics_pass_promtool_with_every_family(self):
        op = self.start("metrics-0", args=["--leader-elect-lease-name=metrics"])
        op.wait_leader()
        self.server.apply(pool("metrics-pool", ["10.251.0.0/29"]))
        self.server.apply(service("metrics-svc", "default"))
        eventually(lambda: op.metric("lballoc_allocations_total", result="Allocated"),
                   what="an allocation to be counted")
        text = op.scrape()
        for family in ["lballoc_pool_addresses", "lballoc_allocations_total",
                       "lballoc_allocation_latency_seconds_bucket",
                       "controller_runtime_reconcile_total",
                       "controller_runtime_reconcile_time_seconds_bucket", "workqueue_depth",
                       "workqueue_adds_total", "workqueue_queue_duration_seconds_bucket",
                       "workqueue_work_duration_seconds_bucket",
                       "workqueue_unfinished_work_seconds",
                       "workqueue_longest_running_processor_seconds",
                       "rest_client_requests_total", "rest_client_request_duration_seconds_bucket",
                       "leader_election_master_status", "process_resident_memory_bytes",
                       "process_cpu_seconds_total", "process_start_time_seconds",
                       "process_open_fds", "process_max_fds", "process_virtual_memory_bytes"]:
            self.assertIn("\n" + family, text, family)
        self.assertIsNotNone(op.metric("rest_client_requests_total", code="200", method="GET"))
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(op.stop(), 0, op.log())
        self.server.kubectl("delete", "service", "-n", "default", "metrics-svc")
        self.server.kubectl("delete", "lbpool", "metrics-pool")


if __name__ == "__main__":
    unittest.main(verbosity=2)
