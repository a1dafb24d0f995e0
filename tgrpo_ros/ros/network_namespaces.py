# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Hosts on one machine: Linux network namespaces joined by veth pairs and a bridge.

The scale-out test and benchmark stand for several hosts with these: each namespace has its own
network stack (an address on one subnet, a default route so multicast discovery has a way out),
so DDS traffic between them crosses a real link, counted in the link's statistics. Fast DDS must
be held to UDPv4 (``FASTDDS_BUILTIN_TRANSPORTS=UDPv4``) for that: its shared-memory transport
would otherwise carry the data between processes of one machine whatever their network.

Needs root and iproute2; ``Unavailable`` says which is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
import os
import random
import shutil
import subprocess


class Unavailable(RuntimeError):
    """This machine cannot make network namespaces (the message says why)."""


def _ip(*args: str) -> None:
    subprocess.run(['ip', *args], check=True, capture_output=True, text=True)


@dataclass(frozen=True)
class Hosts:
    """Namespaces ``names[i]`` with address ``addresses[i]`` on their link ``devices[i]``."""

    names: list[str]
    addresses: list[str]
    devices: list[str]

    def run_in(self, i: int) -> list[str]:
        """Return the command prefix that runs a program in namespace ``i``."""
        return ['ip', 'netns', 'exec', self.names[i]]

    def link_bytes(self, i: int) -> int:
        """Return the bytes received plus sent so far on namespace ``i``'s link."""
        stats = f'/sys/class/net/{self.devices[i]}/statistics/'
        out = subprocess.run([*self.run_in(i), 'cat', stats + 'rx_bytes', stats + 'tx_bytes'],
                             check=True, capture_output=True, text=True).stdout.split()
        return sum(int(x) for x in out)

    def multicast_off(self) -> None:
        """Switch multicast off on every link (discovery then needs a peers list or a server)."""
        for ns, dev in zip(self.names, self.devices):
            _ip('-n', ns, 'link', 'set', dev, 'multicast', 'off')


@contextmanager
def hosts_on_one_machine(count: int) -> Iterator[Hosts]:
    """Make ``count`` namespaces on one bridge, yield them, and remove them afterwards.

    Names carry a random tag and the subnet is drawn from 10.100-250.x.0/24, so concurrent
    users (two test runs) do not collide. Raises ``Unavailable`` where namespaces cannot be made.
    """
    if shutil.which('ip') is None:
        raise Unavailable('network namespaces need iproute2 (the ip command), not installed')
    if os.geteuid() != 0:
        raise Unavailable('network namespaces need root (ip netns add)')
    rng = random.SystemRandom()
    tag = f'{rng.randrange(16 ** 4):04x}'
    subnet = f'10.{rng.randint(100, 250)}.{rng.randint(1, 250)}'
    names = [f'tgns{tag}{i}' for i in range(count)]
    inner = [f'tgi{tag}{i}' for i in range(count)]
    bridge = f'tgbr{tag}'
    made: list[str] = []
    try:
        try:
            _ip('netns', 'add', names[0])
        except subprocess.CalledProcessError as exc:
            raise Unavailable(f'ip netns add refused here: {exc.stderr.strip()}') from None
        made.append(names[0])
        _ip('link', 'add', bridge, 'type', 'bridge')
        _ip('link', 'set', bridge, 'up')
        for i, ns in enumerate(names):
            if ns not in made:
                _ip('netns', 'add', ns)
                made.append(ns)
            outer = f'tgo{tag}{i}'
            _ip('link', 'add', inner[i], 'type', 'veth', 'peer', 'name', outer)
            _ip('link', 'set', inner[i], 'netns', ns)
            _ip('link', 'set', outer, 'master', bridge)
            _ip('link', 'set', outer, 'up')
            _ip('-n', ns, 'addr', 'add', f'{subnet}.{i + 1}/24', 'dev', inner[i])
            _ip('-n', ns, 'link', 'set', inner[i], 'up')
            _ip('-n', ns, 'link', 'set', 'lo', 'up')
            _ip('-n', ns, 'route', 'add', 'default', 'dev', inner[i])  # multicast needs a route
        yield Hosts(names, [f'{subnet}.{i + 1}' for i in range(count)], inner)
    finally:
        for ns in made:  # deleting a namespace deletes its end of the veth pair, and so the pair
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)
        subprocess.run(['ip', 'link', 'del', bridge], capture_output=True)
