"""The directory snapshot the call path looks things up in."""

from __future__ import annotations

import pytest

from ringfence.accounts import Directory, Extension, PhoneNumber, Tenant, TenantId, Trunk

A, B = TenantId(1), TenantId(2)


def _directory() -> Directory:
    return Directory(
        revision=7,
        tenants=[
            Tenant(id=A, name="alpha", domain="alpha.example", created_at=0.0),
            Tenant(id=B, name="beta", domain="[2001:db8::2]", created_at=0.0),
        ],
        extensions=[
            Extension(
                id=1, tenant_id=A, ext="1001", display_name=None, ha1_md5="a", ha1_sha256="b"
            ),
            Extension(
                id=2, tenant_id=A, ext="1000", display_name="Desk", ha1_md5="c", ha1_sha256="d"
            ),
            Extension(
                id=3, tenant_id=B, ext="2001", display_name=None, ha1_md5="e", ha1_sha256="f"
            ),
        ],
        trunks=[
            Trunk(
                id=2,
                tenant_id=A,
                name="backup",
                host="gw.alpha.example",
                port=5060,
                transport="udp",
            ),
            Trunk(
                id=1,
                tenant_id=A,
                name="main",
                host="203.0.113.5",
                port=5060,
                transport="udp",
                username="u",
                password="p",
            ),
            Trunk(id=3, tenant_id=B, name="v6", host="[2001:db8::99]", port=5061, transport="tls"),
        ],
        numbers=[
            PhoneNumber(id=1, tenant_id=A, e164="+442079460001", ext="1001"),
            PhoneNumber(id=2, tenant_id=A, e164="+442079460000", ext="1000"),
            PhoneNumber(id=3, tenant_id=B, e164="+15551234567", ext="2001"),
        ],
    )


def test_an_extension_of_one_tenant_is_never_found_through_another() -> None:
    directory = _directory()
    assert directory.extension(A, "1001") is not None
    assert directory.extension(B, "1001") is None
    assert directory.extension(A, "2001") is None
    assert directory.extension(TenantId(99), "1001") is None
    assert [e.ext for e in directory.extensions(A)] == ["1000", "1001"]
    assert directory.extensions(TenantId(99)) == ()


def test_tenants_by_id_and_domain() -> None:
    directory = _directory()
    assert directory.revision == 7
    assert [t.name for t in directory.tenants()] == ["alpha", "beta"]
    alpha = directory.tenant(A)
    assert alpha is not None
    assert alpha.name == "alpha"
    assert directory.tenant(TenantId(99)) is None
    assert directory.tenant_by_domain("ALPHA.Example") == alpha
    assert directory.tenant_by_domain("alpha.example.") == alpha
    assert directory.tenant_by_domain("[2001:DB8::2]") == directory.tenant(B)
    assert directory.tenant_by_domain("2001:db8:0::2") == directory.tenant(B)
    assert directory.tenant_by_domain("beta") is None


def test_numbers_and_trunks() -> None:
    directory = _directory()
    number = directory.number("+15551234567")
    assert number is not None
    assert number.tenant_id == B
    assert directory.number("+10000000000") is None
    assert [n.e164 for n in directory.numbers_of(A)] == ["+442079460000", "+442079460001"]
    assert [t.name for t in directory.trunks(A)] == ["main", "backup"]
    assert directory.trunks(TenantId(99)) == ()


def test_a_request_from_a_trunk_address_belongs_to_its_tenant() -> None:
    directory = _directory()
    main = directory.trunk_for_source("203.0.113.5")
    assert main is not None
    assert (main.name, main.tenant_id) == ("main", A)
    by_name = directory.trunk_for_source("GW.alpha.example")
    assert by_name is not None
    assert by_name.name == "backup"
    v6 = directory.trunk_for_source("2001:db8:0:0::99")
    assert v6 is not None
    assert v6.tenant_id == B
    assert directory.trunk_for_source("203.0.113.6") is None
    # Nothing is resolved: a name never matches an address.
    assert directory.trunk_for_source("localhost") is None


def test_a_directory_cannot_be_changed() -> None:
    directory = _directory()
    with pytest.raises(AttributeError, match="immutable"):
        directory.x = 1
    with pytest.raises(AttributeError, match="immutable"):
        del directory.revision
    with pytest.raises(TypeError):
        directory._tenants[TenantId(5)] = directory.tenants()[0]  # type: ignore[index,unused-ignore]
    assert repr(directory) == "Directory(revision=7, tenants=2)"
    assert Directory(revision=0).tenants() == ()


def test_secrets_stay_out_of_repr() -> None:
    directory = _directory()
    assert "ha1" not in repr(directory.extensions(A))
    (main, _) = directory.trunks(A)
    assert "password" not in repr(main)
