#!/usr/bin/python3
"""e2e: which Services the operator handles (API.md "Which Services are handled"):
--loadbalancer-class and --loadbalancer-default-class, and Services of other classes left
untouched, their addresses never counted as ours. One API server and operator per class below."""

import unittest

from lballoc_e2e import ALLOCATED, E2ECase, condition, eventually, ingress_ips


class ClassCase(E2ECase):
    """Helpers shared by the three configurations."""

    def setUp(self):
        super().setUp()
        b = self.v4()
        self.add_pool("p", ["%s.10-%s.19" % (b, b)])

    def assert_untouched(self, *names):
        for name in names:
            svc = self.svc(name)
            self.assertEqual(ingress_ips(svc), [], name)
            self.assertIsNone(condition(svc, ALLOCATED), name)
            self.assertEqual(self.events(name), [], name)

    def run_classes(self, handled, untouched):
        """Creates one Service per class: the untouched ones first, so that by the time the
        handled ones have addresses the operator has seen them too."""
        names = {}
        for i, cls in enumerate(untouched + handled):
            name = "s%d" % i
            names[cls] = name
            self.add_service(name, lb_class=cls)
        for cls in handled:
            self.wait_ips(names[cls])
            self.wait_condition(names[cls], "True", "Allocated")
        self.assert_untouched(*[names[c] for c in untouched])
        # Changed again, then a handled Service after them: once that one has its address the
        # changes have been seen, and the others are still untouched.
        for cls in untouched:
            self.kubectl("label", "service", "-n", self.ns, names[cls], "touched=yes")
        self.add_service("last", lb_class=handled[0])
        self.wait_ips("last")
        self.assert_untouched(*[names[c] for c in untouched])


class DefaultClassOnTest(ClassCase):
    OPERATOR_ARGS = ()  # --loadbalancer-class=kube-router --loadbalancer-default-class=true

    def test_no_class_default_and_kube_router_are_handled(self):
        self.run_classes(handled=[None, "default", "kube-router"],
                         untouched=["example.com/other-lb"])

    def test_other_class_addresses_are_left_and_not_counted(self):
        b = self.v4()
        self.add_service("theirs", lb_class="example.com/other-lb")
        # Another load balancer gives it an address that lies in our pool.
        self.kubectl("patch", "service", "-n", self.ns, "theirs", "--subresource=status",
                     "--type=merge",
                     "-p", '{"status":{"loadBalancer":{"ingress":[{"ip":"%s.10"}]}}}' % b)
        # Ours asks for that same address: it is not ours, so it is free for us.
        self.add_service("ours", annotations={"lballoc.io/ips": "%s.10" % b})
        self.assertEqual(self.wait_ips("ours"), ["%s.10" % b])
        self.add_service("next")
        self.assertEqual(self.wait_ips("next"), ["%s.11" % b])
        # Theirs is never rewritten.
        self.assertEqual(ingress_ips(self.svc("theirs")), ["%s.10" % b])
        self.assertIsNone(condition(self.svc("theirs"), ALLOCATED))


class DefaultClassOffTest(ClassCase):
    OPERATOR_ARGS = ("--loadbalancer-default-class=false",)

    def test_only_the_named_class_is_handled(self):
        self.run_classes(handled=["kube-router"],
                         untouched=[None, "default", "example.com/other-lb"])


class CustomClassTest(ClassCase):
    OPERATOR_ARGS = ("--loadbalancer-class=example.com/lballoc",)

    def test_the_flag_names_the_class(self):
        self.run_classes(handled=["example.com/lballoc", None, "default"],
                         untouched=["kube-router"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
