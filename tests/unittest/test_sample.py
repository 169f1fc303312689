"""Tests for nrunner's python-unittest kind: one of each outcome."""
import unittest


class Base(unittest.TestCase):
    def test_inherited(self):
        pass


class Sample(Base):
    def test_pass(self):
        self.assertTrue(True)

    def test_fail(self):
        self.assertEqual(1, 2)

    def test_error(self):
        raise RuntimeError("boom")

    @unittest.skip("not today")
    def test_skip(self):
        pass

    def helper(self):
        """Not a test: no test prefix."""


class NotATest:
    def test_ignored(self):
        pass
