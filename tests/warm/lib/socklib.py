"""A library that opens a socket when it is imported: not fork-safe."""
import socket

CONNECTION = socket.socketpair()
