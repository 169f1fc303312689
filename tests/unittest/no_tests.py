"""A Python file that mentions TestCase but defines none."""
NAME = "TestCase"
