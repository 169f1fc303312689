"""A library that takes 10 s to import."""
import time

time.sleep(10)
