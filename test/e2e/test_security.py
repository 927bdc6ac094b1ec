#!/usr/bin/python3
"""e2e: the operator's handling of credentials and TLS (issue 13, "Security"; issue 10, finding
11), with the real binaries against lballoc-apiserver serving HTTPS with bearer tokens:

- no credential reaches the logs at any verbosity (--v=10), through work that includes errors:
  refused status writes (injected 500s and 409s), an invalid pool, a Service that cannot be
  served, an operator with a wrong token (401 on every call) and one with a read-only token
  (403 on every write);
- a token file that is rotated keeps working (the file is re-read after a 401);
- TLS is verified by default: a wrong CA fails with an error that says why;
- tls-server-name is the name the certificate is checked against;
- insecure-skip-tls-verify together with a CA is refused at start with a clear error (exit 2).
"""

import base64
import os
import secrets
import subprocess
import unittest

import yaml

from lballoc_e2e import ALLOCATED, ApiServer, Operator, condition, eventually, ingress_ips, pool, \
    service

TOKEN = "e2e-admin-" + secrets.token_hex(12)
READ_ONLY = "e2e-readonly-" + secrets.token_hex(12)
WRONG = "e2e-wrong-" + secrets.token_hex(12)
STALE = "e2e-stale-" + secrets.token_hex(12)
SECRETS = {"admin token": TOKEN, "read-only token": READ_ONLY, "wrong token": WRONG,
           "stale token": STALE}


def kubeconfig(server, user, ca_pem=None, extra_cluster=None):
    """A kubeconfig for `server` with the given user entry (dict) and CA (PEM bytes; the
    server's when None)."""
    cluster = {"server": server.url,
               "certificate-authority-data": base64.b64encode(
                   ca_pem if ca_pem is not None else server.ca_pem).decode()}
    cluster.update(extra_cluster or {})
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u",
                                               "namespace": "default"}}]})


class SecurityTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # Status writes (PATCH) fail now and then: 500s and 409s the operator retries and logs.
        cls.server = ApiServer(["--token=" + TOKEN, "--read-only-token=" + READ_ONLY,
                                "--tls-self-signed", "--fault-verbs=patch",
                                "--fault-error-rate=0.2", "--fault-conflict-rate=0.2"])
        with open(cls.server.kubeconfig) as f:
            data = yaml.safe_load(f)
        cls.server.ca_pem = base64.b64decode(data["clusters"][0]["cluster"]
                                             ["certificate-authority-data"])
        cls.server.install_crds()
        cls.logs = []

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        if os.environ.get("LBALLOC_E2E_KEEP") is None:
            cls.server.cleanup()

    def write(self, name, text):
        path = os.path.join(self.server.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def operator(self, name, config_path=None, args=(), **kw):
        extra = ["--v=10"] + (["--kubeconfig=" + config_path] if config_path else [])
        op = Operator(self.server, name, args=extra + list(args), **kw)
        self.addCleanup(op.cleanup)
        self.logs.append(op.log_path)
        return op

    def assert_no_secret_in(self, op):
        text = op.log()
        for what, value in SECRETS.items():
            self.assertNotIn(value, text, "%s in %s" % (what, op.log_path))
            # Not even a part long enough to be of use.
            self.assertNotIn(value[-16:], text, "part of the %s in %s" % (what, op.log_path))

    def test_no_credential_in_logs_at_v10_through_errors(self):
        main = self.operator("sec-main", args=["--leader-elect-lease-name=sec-main"])
        wrong = self.operator("sec-wrong", self.write("wrong.kubeconfig", kubeconfig(
            self.server, {"token": WRONG})), election=False, metrics=False)
        read_only = self.operator("sec-ro", self.write("ro.kubeconfig", kubeconfig(
            self.server, {"token": READ_ONLY})), args=["--leader-elect-lease-name=sec-ro"],
            metrics=False)
        main.wait_leader()
        self.server.apply([pool("sec-pool", ["10.252.0.0/29"]),
                           pool("sec-bad", ["10.252.1.0/29", "not-an-address"])])
        self.server.apply([service("sec-a", "default"), service("sec-b", "default"),
                           service("sec-none", "default",
                                   annotations={"lballoc.io/pool": "no-such-pool"})])
        for name in ("sec-a", "sec-b"):
            eventually(lambda: ingress_ips(self.server.get_json("service", "-n", "default", name)),
                       what="an address for " + name)
        eventually(lambda: (condition(self.server.get_json("service", "-n", "default", "sec-none"),
                                      ALLOCATED) or {}).get("reason") == "NoEligiblePool",
                   what="sec-none to fail")
        eventually(lambda: (condition(self.server.get_json("lbpool", "sec-bad"), "Ready") or {})
                   .get("reason") == "InvalidSpec", what="the bad pool's condition")
        # The errors happened and were logged, so the logs were given the chance to leak.
        eventually(lambda: "401" in wrong.log() or "Unauthorized" in wrong.log(),
                   what="the wrong token's 401 in its log")
        eventually(lambda: "PermissionDenied" in read_only.log(),
                   what="the read-only token's 403 in its log")
        self.assertEqual(main.stop(), 0, main.log()[-3000:])
        wrong.stop()
        read_only.stop()
        for op in (main, wrong, read_only):
            self.assert_no_secret_in(op)
        # --v=10 took effect: every request was logged, its headers with the credential masked.
        self.assertIn(" 200 in ", main.log())
        self.assertIn("Authorization: Bearer <masked>", main.log())
        self.assertIn("Authorization: Bearer <masked>", wrong.log())
        self.server.kubectl("delete", "service", "-n", "default", "sec-a", "sec-b", "sec-none")
        self.server.kubectl("delete", "lbpool", "sec-pool", "sec-bad")

    def test_rotated_token_file_keeps_working(self):
        token_file = self.write("token", STALE + "\n")
        op = self.operator("sec-rotate", self.write("rotate.kubeconfig", kubeconfig(
            self.server, {"tokenFile": token_file})), args=["--leader-elect-lease-name=rot"])
        eventually(lambda: "401" in op.log() or "Unauthorized" in op.log(),
                   what="the stale token refused")
        self.write("token", TOKEN + "\n")  # the kubelet rotated the token
        op.wait_leader(timeout=60)
        self.server.apply([pool("rot-pool", ["10.252.2.0/30"]), service("rot-svc", "default")])
        eventually(lambda: ingress_ips(self.server.get_json("service", "-n", "default",
                                                            "rot-svc")),
                   what="an address with the rotated token")
        self.assertEqual(op.stop(), 0, op.log()[-3000:])
        self.assert_no_secret_in(op)
        self.server.kubectl("delete", "service", "-n", "default", "rot-svc")
        self.server.kubectl("delete", "lbpool", "rot-pool")

    def test_wrong_ca_fails_with_a_clear_error(self):
        d = self.server.dir
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        os.path.join(d, "other.key"), "-out", os.path.join(d, "other.crt"),
                        "-days", "1", "-subj", "/CN=other-ca"],
                       check=True, capture_output=True, timeout=60)
        with open(os.path.join(d, "other.crt"), "rb") as f:
            other = f.read()
        op = self.operator("sec-ca", self.write("ca.kubeconfig", kubeconfig(
            self.server, {"token": TOKEN}, ca_pem=other)), election=False)
        eventually(lambda: "server certificate refused" in op.log(), timeout=30,
                   what="the TLS error in the log")
        self.assertIn("not signed by the configured certificate-authority", op.log())
        op.stop()
        self.assert_no_secret_in(op)

    def test_tls_server_name_is_the_verified_name(self):
        # The server's certificate is for 127.0.0.1 and localhost only.
        good = self.operator("sec-sni", self.write("sni.kubeconfig", kubeconfig(
            self.server, {"token": TOKEN}, extra_cluster={"tls-server-name": "localhost"})),
            args=["--leader-elect-lease-name=sni"])
        good.wait_leader()
        self.assertEqual(good.stop(), 0, good.log()[-3000:])
        bad = self.operator("sec-sni-bad", self.write("sni-bad.kubeconfig", kubeconfig(
            self.server, {"token": TOKEN}, extra_cluster={"tls-server-name": "wrong.example"})),
            election=False)
        eventually(lambda: 'not for "wrong.example"' in bad.log(), timeout=30,
                   what="the name mismatch in the log")
        bad.stop()

    def test_insecure_with_a_ca_is_refused_at_start(self):
        op = self.operator("sec-insecure", self.write("insecure.kubeconfig", kubeconfig(
            self.server, {"token": TOKEN}, extra_cluster={"insecure-skip-tls-verify": True})))
        self.assertEqual(op.wait(timeout=30), 2, op.log())
        self.assertIn("certificate-authority and insecure-skip-tls-verify together", op.log())
        self.assert_no_secret_in(op)


if __name__ == "__main__":
    unittest.main(verbosity=2)
