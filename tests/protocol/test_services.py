"""Services and the six ports that decide them (w§1.1)."""

from __future__ import annotations

import pytest

from panelauth.protocol.services import Listener, Service, standard_listeners


@pytest.mark.parametrize(
    ("service", "name", "plain", "tls"),
    [
        (Service.CPANEL, "cpaneld", 2082, 2083),
        (Service.WHM, "whostmgrd", 2086, 2087),
        (Service.WEBMAIL, "webmaild", 2095, 2096),
    ],
)
def test_service_ports_and_names(service: Service, name: str, plain: int, tls: int) -> None:
    assert service.value == name
    assert service.plain_port == plain
    assert service.tls_port == tls
    assert Service(name) is service


def test_standard_listeners_are_the_six_ports_in_order() -> None:
    assert [(lst.port, lst.service, lst.tls) for lst in standard_listeners()] == [
        (2082, Service.CPANEL, False),
        (2083, Service.CPANEL, True),
        (2086, Service.WHM, False),
        (2087, Service.WHM, True),
        (2095, Service.WEBMAIL, False),
        (2096, Service.WEBMAIL, True),
    ]


def test_standard_listeners_shift_by_the_offset() -> None:
    shifted = standard_listeners(port_offset=10000)
    assert [lst.port for lst in shifted] == [12082, 12083, 12086, 12087, 12095, 12096]
    assert [lst.service for lst in shifted] == [lst.service for lst in standard_listeners()]


@pytest.mark.parametrize(
    ("listener", "twin"),
    [
        (Listener(Service.CPANEL, False, 2082), 2083),
        (Listener(Service.CPANEL, True, 2083), 2083),
        (Listener(Service.WHM, False, 12086), 12087),
        (Listener(Service.WEBMAIL, True, 2096), 2096),
    ],
)
def test_twin_port_is_the_tls_port_of_the_service(listener: Listener, twin: int) -> None:
    assert listener.twin_port == twin


def test_every_plain_listener_twins_with_a_tls_listener_of_the_same_service() -> None:
    listeners = standard_listeners(port_offset=5)
    by_port = {lst.port: lst for lst in listeners}
    for lst in listeners:
        twin = by_port[lst.twin_port]
        assert twin.tls
        assert twin.service is lst.service
