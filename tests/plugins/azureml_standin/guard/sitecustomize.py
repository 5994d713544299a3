"""Test only: keep a process on this machine.

Imported by the tests (``install(fail)``) and, as ``sitecustomize`` on the
PYTHONPATH of the commands the stand-in runs, by the "compute" processes.
Both name resolution and ``connect`` are checked, since urllib3 (under the
Azure SDK) opens its sockets without ``socket.create_connection``.
"""
import ipaddress
import socket

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def _is_loopback(host) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def install(fail):
    """Make every non-loopback name lookup or connection call ``fail(message)`` (which raises).

    Returns a function that undoes the patch.
    """
    real_getaddrinfo, real_connect, real_connect_ex = socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _is_loopback(host.decode() if isinstance(host, bytes) else host):
            fail(f"name lookup of {host!r} leaves loopback")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            fail(f"connection to {address[0]}:{address[1]} leaves loopback")

    def connect(self, address):
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        check(self, address)
        return real_connect_ex(self, address)

    socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex = getaddrinfo, connect, connect_ex

    def undo():
        socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex = real_getaddrinfo, real_connect, real_connect_ex

    return undo


def _refuse(message):
    raise ConnectionRefusedError(f"stand-in compute: {message}")


if __name__ == "sitecustomize":
    install(_refuse)
