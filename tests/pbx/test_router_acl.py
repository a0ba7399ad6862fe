"""Source ACLs in the router: phones behind the firewall, and trunks accepted from a network.

An extension with networks of its own may register and call only from inside them; without,
the tenant's networks apply; without either, anywhere. From outside, the right password is
refused 403 exactly as a wrong one is (nothing tells the caller that the password was right),
and the refusal reaches the perimeter as a failed login.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from tests.pbx.test_router import DIRECTORY, NOW, A, authenticated, router  # noqa: F401

from ringfence.accounts import Directory, Trunk
from ringfence.pbx.router import Authenticated, Refused, Routed, Router
from ringfence.sip.effects import Peer


def with_acls(
    tenant: tuple[str, ...] = (),
    ext_1001: tuple[str, ...] = (),
    trunk: tuple[str, ...] = (),
) -> Directory:
    tenants = [replace(t, allow_from=tenant) if t.id == A else t for t in DIRECTORY.tenants()]
    extensions = [
        replace(e, allow_from=ext_1001) if e.ext == "1001" else e
        for t in DIRECTORY.tenants()
        for e in DIRECTORY.extensions(t.id)
    ]
    trunks = [
        replace(t, allow_from=trunk) for x in DIRECTORY.tenants() for t in DIRECTORY.trunks(x.id)
    ]
    return Directory(
        revision=2,
        tenants=tenants,
        extensions=extensions,
        trunks=trunks,
        numbers=[n for t in DIRECTORY.tenants() for n in DIRECTORY.numbers_of(t.id)],
        policy=DIRECTORY.policy,
    )


def peer(host: str) -> Peer:
    return Peer(transport="UDP", host=host, port=5060)


def call_from(router: Router, host: str, caller: str = "1001") -> Routed | Refused:  # noqa: F811
    request = authenticated(router, caller, "a.example", "1002@a.example")
    return router.route(request, peer(host))


@pytest.mark.parametrize(
    ("tenant", "ext", "inside", "outside"),
    [
        (("10.1.0.0/16",), (), "10.1.2.3", "192.0.2.10"),  # the tenant's networks
        ((), ("10.2.0.0/16",), "10.2.9.9", "10.1.2.3"),  # the extension's own
        (("10.1.0.0/16",), ("10.2.0.0/16",), "10.2.9.9", "10.1.2.3"),  # its own replace them
        ((), ("2001:db8:5::/48",), "2001:db8:5::77", "2001:db8:6::1"),
        (("192.0.2.10",), (), "192.0.2.10", "192.0.2.11"),  # one address
    ],
)
def test_a_phone_calls_from_inside_its_networks_and_not_from_outside(
    router: Router,  # noqa: F811
    tenant: tuple[str, ...],
    ext: tuple[str, ...],
    inside: str,
    outside: str,
) -> None:
    directory = with_acls(tenant=tenant, ext_1001=ext)
    router.directory = lambda: directory
    assert isinstance(call_from(router, inside), Routed)
    refused = call_from(router, outside)
    assert isinstance(refused, Refused)
    assert (int(refused.status), refused.reason, refused.public) == (
        403,
        "source_not_allowed",
        False,
    )


def test_outside_with_the_right_password_looks_like_a_wrong_password(
    router: Router,  # noqa: F811
) -> None:
    directory = with_acls(tenant=("10.1.0.0/16",))
    router.directory = lambda: directory
    right = call_from(router, "192.0.2.10")
    request = authenticated(router, "1001", "a.example", "1002@a.example")
    header = request.headers.get("Proxy-Authorization") or ""
    wrong = router.route(
        request.with_headers(
            request.headers.with_value(
                "Proxy-Authorization",
                re.sub(r'response="[0-9a-f]+"', 'response="' + "0" * 32 + '"', header),
            )
        ),
        peer("192.0.2.10"),
    )
    assert isinstance(right, Refused)
    assert isinstance(wrong, Refused)
    assert (right.status, right.headers, right.public) == (wrong.status, wrong.headers, False)


def test_an_acl_of_one_extension_leaves_the_others_anywhere(
    router: Router,  # noqa: F811
) -> None:
    directory = with_acls(ext_1001=("10.2.0.0/16",))
    router.directory = lambda: directory
    assert isinstance(call_from(router, "192.0.2.10", caller="1003"), Routed)
    assert isinstance(call_from(router, "192.0.2.10", caller="1001"), Refused)


def test_the_acl_refusal_reaches_the_perimeter_as_a_failed_login(
    router: Router,  # noqa: F811
) -> None:
    directory = with_acls(tenant=("10.1.0.0/16",))
    router.directory = lambda: directory
    seen: list[Authenticated | Refused] = []
    router.on_auth = lambda _request, _source, outcome: seen.append(outcome)
    call_from(router, "192.0.2.10")
    assert [int(o.status) for o in seen if isinstance(o, Refused)][-1] == 403


def test_register_is_held_to_the_acl_too(router: Router) -> None:  # noqa: F811
    directory = with_acls(ext_1001=("10.2.0.0/16",))
    router.directory = lambda: directory
    # authenticate() is what the registrar calls, with the source of the REGISTER.
    inside = authenticated(router, "1001", "a.example", "1002@a.example")
    assert isinstance(router.authenticate(inside, NOW, "10.2.0.1"), Authenticated)
    request = authenticated(router, "1001", "a.example", "1002@a.example")
    outside = router.authenticate(request, NOW, "192.0.2.10")
    assert isinstance(outside, Refused)
    assert outside.reason == "source_not_allowed"


def test_a_trunk_is_accepted_from_its_networks_as_well_as_its_host(
    router: Router,  # noqa: F811
) -> None:
    directory = with_acls(trunk=("203.0.113.0/28",))
    router.directory = lambda: directory
    (trunk,) = directory.trunks(A)
    assert isinstance(trunk, Trunk)
    for host in ("198.51.100.9", "203.0.113.14"):
        assert directory.trunk_for_source(host) == trunk
    assert directory.trunk_for_source("203.0.113.16") is None
    hosts, networks = directory.trunk_sources()
    assert "198.51.100.9" in hosts
    assert [str(n) for n in networks] == ["203.0.113.0/28"]
