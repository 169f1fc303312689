"""A library that takes 3 s to import."""
import time

time.sleep(3)
