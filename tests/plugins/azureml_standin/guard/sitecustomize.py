"""Test only: put on PYTHONPATH of the commands the stand-in runs, so that the
"compute" process cannot reach anything but this machine either."""
import socket

_real_create_connection = socket.create_connection


def _loopback_only(address, *args, **kwargs):
    if address[0] not in ("127.0.0.1", "localhost", "::1"):
        raise ConnectionRefusedError(f"stand-in compute: connection to {address[0]} refused (leaves loopback)")
    return _real_create_connection(address, *args, **kwargs)


socket.create_connection = _loopback_only
