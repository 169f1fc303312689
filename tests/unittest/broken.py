import unittest
class Broken(unittest.TestCase)
    pass
