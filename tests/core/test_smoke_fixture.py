from __future__ import annotations

from panelauth.core.models import Account


async def test_reseller_fixture_owns_carol(reseller: Account, bob: Account) -> None:
    assert reseller.is_reseller
    assert "list-accts" in reseller.acls
    assert bob.owner == "root"
