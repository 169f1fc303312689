"""A library with nothing to fear from a fork."""
import decimal

ZERO = decimal.Decimal(0)
