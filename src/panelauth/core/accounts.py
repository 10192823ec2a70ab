"""Account lifecycle: the rules for creating, changing and removing accounts and mailboxes.

API functions call these after authorisation; they validate every field that reaches the store
(PW-5) and hash passwords off the event loop.
"""

from __future__ import annotations

from panelauth.clock import Clock
from panelauth.core.acls import ACL_NAMES
from panelauth.core.events import AccountCreated, DomainAdded, EventBus
from panelauth.core.models import ROOT, Account, Mailbox
from panelauth.core.passwords import HashingPool, validate_new_password
from panelauth.core.stores import Store
from panelauth.core.validation import (
    normalize_domain,
    validate_contact_email,
    validate_feature_list_name,
    validate_local_part,
    validate_plan_name,
    validate_username,
)
from panelauth.errors import AlreadyExists, InvalidArgument, NotFound
from panelauth.secret import Secret


class Accounts:
    def __init__(
        self,
        store: Store,
        passwords: HashingPool,
        clock: Clock,
        events: EventBus | None = None,  # None: nobody listens (init, tests)
    ) -> None:
        self._store = store
        self._passwords = passwords
        self._clock = clock
        self._events = events or EventBus()

    async def create_root(self, password: str) -> Account:
        password_hash = await self._passwords.hash(validate_new_password(password))
        account = Account(ROOT, "root.localhost", ROOT, password_hash, created_at=self._clock.now())
        await self._store.insert_account(account)
        return account

    async def create(
        self,
        *,
        user: str,
        domain: str,
        password: str,
        owner: str,
        plan: str = "default",
        feature_list: str = "default",
        contact_email: str = "",
    ) -> Account:
        user = validate_username(user)
        domain = normalize_domain(domain)
        normalized_password = validate_new_password(password)
        plan = validate_plan_name(plan)
        feature_list = validate_feature_list_name(feature_list)
        contact_email = validate_contact_email(contact_email)
        if await self._store.get_account(user) is not None:
            raise AlreadyExists(f"The account “{user}” already exists.")
        if await self._store.domain_owner(domain) is not None:
            raise AlreadyExists(f"The domain “{domain}” already belongs to an account.")
        if await self._store.get_feature_list(feature_list) is None:
            raise InvalidArgument(f"The feature list “{feature_list}” does not exist.")
        account = Account(
            user=user,
            domain=domain,
            owner=owner,
            password_hash=await self._passwords.hash(normalized_password),
            plan=plan,
            feature_list=feature_list,
            contact_email=contact_email,
            created_at=self._clock.now(),
        )
        try:
            await self._store.insert_account(account)
        except AlreadyExists:
            raise AlreadyExists(f"The account “{user}” or domain “{domain}” exists.") from None
        await self._events.publish(AccountCreated(user, domain, owner), DomainAdded(user, domain))
        return account

    async def change_password(self, user: str, password: Secret | str) -> None:
        plain = password.reveal() if isinstance(password, Secret) else password
        new_hash = await self._passwords.hash(validate_new_password(plain))
        if not await self._store.set_password_hash(user, new_hash, rotate=True):
            raise NotFound(f"The account “{user}” does not exist.")

    async def make_reseller(self, user: str) -> None:
        account = await self._existing(user)
        await self._store.set_reseller(account.user, True, account.acls)

    async def unmake_reseller(self, user: str) -> None:
        account = await self._existing(user)
        await self._store.set_reseller(account.user, False, frozenset())

    async def set_acls(self, user: str, acls: frozenset[str]) -> None:
        unknown = acls - ACL_NAMES
        if unknown:
            raise InvalidArgument(f"Unknown privilege: {', '.join(sorted(unknown))}.")
        account = await self._existing(user)
        if not account.is_reseller:
            raise InvalidArgument(f"“{user}” is not a reseller.")
        await self._store.set_reseller(user, True, acls)

    async def _existing(self, user: str) -> Account:
        account = await self._store.get_account(user)
        if account is None or account.is_root:
            raise NotFound(f"The account “{user}” does not exist.")
        return account

    # -- mailboxes --------------------------------------------------------------------------

    async def add_mailbox(
        self, account: Account, *, local_part: str, domain: str, password: str, quota_mb: int
    ) -> Mailbox:
        local = validate_local_part(local_part)
        domain = normalize_domain(domain)
        if domain != account.domain:
            raise InvalidArgument(f"The account does not own the domain “{domain}”.")
        if quota_mb < 0:
            raise InvalidArgument("The quota must be 0 (unlimited) or a positive number.")
        address = f"{local}@{domain}"
        normalized = validate_new_password(password)
        if await self._store.get_mailbox(address) is not None:
            raise AlreadyExists(f"The account “{address}” already exists!")
        mailbox = Mailbox(
            address=address,
            account=account.user,
            password_hash=await self._passwords.hash(normalized),
            quota_mb=quota_mb,
            created_at=self._clock.now(),
        )
        await self._store.insert_mailbox(mailbox)
        return mailbox

    async def change_mailbox_password(self, address: str, password: str) -> None:
        new_hash = await self._passwords.hash(validate_new_password(password))
        if not await self._store.set_mailbox_password_hash(address, new_hash, rotate=True):
            raise NotFound(f"The email account “{address}” does not exist.")
