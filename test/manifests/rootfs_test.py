#!/usr/bin/python3
"""Checks the runtime stage of the Dockerfile without a Docker engine.

The image is `FROM scratch` plus what config/image/runtime-rootfs.sh copies: the binary and its ldd
closure. This test runs that script on a built binary (argument 1: lballoc-operator once it is
built, else another binary of the tree with the same libraries) and checks that the directory
holds every library the loader will ask for and no shell, then (as root) runs the binary inside
it with chroot as the image's numeric user, which is what the container runtime will do.

Run by ctest (label "manifests"); by hand:
  LBALLOC_SOURCE_DIR=. python3 test/manifests/rootfs_test.py build/operator/lballoc-operator
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE_DIR = os.environ.get(
    "LBALLOC_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BINARY = None  # set from argv in __main__


def image_user():
    """The numeric USER of the Dockerfile's last stage, as "uid:gid"."""
    with open(os.path.join(SOURCE_DIR, "config", "image", "Dockerfile")) as f:
        text = f.read()
    final = text[text.rfind("\nFROM "):]
    m = re.search(r"^USER\s+(\d+)(?::(\d+))?\s*$", final, re.M)
    if not m:
        raise AssertionError("the Dockerfile's runtime stage has no numeric USER")
    return f"{m.group(1)}:{m.group(2) or m.group(1)}"


class RuntimeRootfs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lballoc-rootfs-")
        cls.root = os.path.join(cls.tmp, "root")
        proc = subprocess.run([os.path.join(SOURCE_DIR, "config", "image", "runtime-rootfs.sh"), BINARY,
                               cls.root], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"runtime-rootfs.sh failed: {proc.stderr}")
        cls.name = os.path.basename(BINARY)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_binary_at_the_root(self):
        path = os.path.join(self.root, self.name)
        self.assertTrue(os.access(path, os.X_OK), path)

    def test_every_library_the_loader_needs(self):
        out = subprocess.run(["ldd", BINARY], capture_output=True, text=True, check=True).stdout
        wanted = re.findall(r"=>\s+(/\S+)", out) + re.findall(r"^\s*(/\S+)", out, re.M)
        self.assertTrue(any("libc.so" in w for w in wanted), out)
        for lib in wanted:
            with self.subTest(lib=lib):
                self.assertTrue(os.path.isfile(self.root + lib), lib)

    def test_nothing_else(self):
        files = []
        for d, _, names in os.walk(self.root):
            files += [os.path.relpath(os.path.join(d, n), self.root) for n in names]
        self.assertFalse([f for f in files if os.path.basename(f) in ("sh", "bash", "busybox")])
        self.assertTrue(all(f == self.name or ".so" in f for f in files), files)

    @unittest.skipUnless(os.geteuid() == 0, "chroot needs root")
    def test_runs_in_the_rootfs_as_the_image_user(self):
        # --version prints a version line and exits 0 without touching the network; the loader
        # finding every library is what is under test (a missing one exits 127 before main).
        chroot = shutil.which("chroot") or "/usr/sbin/chroot"
        proc = subprocess.run([chroot, f"--userspec={image_user()}", self.root,
                               "/" + self.name, "--version"],
                              capture_output=True, text=True, timeout=60,
                              env={"GLOG_logtostderr": "1"})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue((proc.stdout + proc.stderr).strip(), "no output from --version")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: rootfs_test.py BINARY")
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
