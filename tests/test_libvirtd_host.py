"""The loopback daemon's configuration (no daemon started): loopback only, nothing of the system's."""

from __future__ import annotations

import socket
from pathlib import Path

from tests import libvirtd_host


def test_the_daemon_listens_on_loopback_tcp_only() -> None:
    conf = libvirtd_host.daemon_conf(16599, Path("/tmp/x/libvirtd.log"))
    settings = dict(line.split(" = ", 1) for line in conf.splitlines() if " = " in line)
    assert settings["listen_addr"] == '"127.0.0.1"'
    assert settings["listen_tcp"] == "1" and settings["listen_tls"] == "0"
    assert settings["tcp_port"] == '"16599"'
    assert "/tmp/x/libvirtd.log" in settings["log_outputs"]


def test_every_folder_of_the_daemon_is_relocated() -> None:
    # A root libvirtd writes sockets, state, cache and logs here and reads its qemu.conf here.
    assert set(libvirtd_host._RELOCATED) == {
        "/run/libvirt",
        "/var/lib/libvirt",
        "/var/cache/libvirt",
        "/var/log/libvirt",
        "/etc/libvirt",
    }


def test_the_free_port_is_on_loopback_and_free_there() -> None:
    assert libvirtd_host.ADDRESS == "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind((libvirtd_host.ADDRESS, 0))
        busy.listen()
        port = libvirtd_host.free_port()
        assert port != busy.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as daemon:
            daemon.bind((libvirtd_host.ADDRESS, port))  # what the daemon will do: fails if the port is taken
