"""Services and the ports that decide them (w§1.1)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Service(enum.Enum):
    CPANEL = "cpaneld"
    WHM = "whostmgrd"
    WEBMAIL = "webmaild"

    @property
    def tls_port(self) -> int:
        return _TLS_PORTS[self]

    @property
    def plain_port(self) -> int:
        return _TLS_PORTS[self] - 1


_TLS_PORTS = {Service.CPANEL: 2083, Service.WHM: 2087, Service.WEBMAIL: 2096}


@dataclass(frozen=True, slots=True)
class Listener:
    """One of the six ports: the service it serves and whether it speaks TLS."""

    service: Service
    tls: bool
    port: int

    @property
    def port_offset(self) -> int:
        """How far this server's ports are shifted (`serve --port-offset`)."""
        return self.port - (self.service.tls_port if self.tls else self.service.plain_port)

    @property
    def twin_port(self) -> int:
        """The TLS port of the same service (w§0 "TLS twin")."""
        return self.port if self.tls else self.port + 1


def standard_listeners(port_offset: int = 0) -> tuple[Listener, ...]:
    """The six listeners, in port order, shifted by `port_offset`."""
    listeners = []
    for service in Service:
        listeners.append(Listener(service, False, service.plain_port + port_offset))
        listeners.append(Listener(service, True, service.tls_port + port_offset))
    return tuple(sorted(listeners, key=lambda listener: listener.port))
