"""Tenants, extensions, trunks and numbers: the values, the call path's snapshot and the
admin services. No SQL here: the store implements :class:`AccountsStore`.

Later issues add users, roles and permissions, PINs and TOTP.
"""

from ringfence.accounts.directory import Directory
from ringfence.accounts.fraud_admin import FraudService, check_email, check_pin, pin_realm
from ringfence.accounts.guard_admin import AclView, GuardService, parse_duration
from ringfence.accounts.model import (
    TRUNK_TRANSPORTS,
    AuditEntry,
    Extension,
    PhoneNumber,
    Tenant,
    TenantId,
    Trunk,
    caller_id_for,
)
from ringfence.accounts.policy_admin import (
    PolicyCheck,
    PolicyService,
    PolicyView,
    RatesImport,
    check_block_pattern,
    limits_from_text,
    parse_setting,
)
from ringfence.accounts.ports import (
    AccountsStore,
    AccountsUnitOfWork,
    FraudUnitOfWork,
    PolicyUnitOfWork,
)
from ringfence.accounts.rules import (
    PASSWORD_ALPHABET,
    PASSWORD_LENGTH,
    RandomSource,
    generate_password,
    normalise_domain,
    normalise_e164,
    normalise_host,
    parse_host_port,
)
from ringfence.accounts.service import (
    DEMO_EXTENSIONS,
    DEMO_TENANT,
    AccountsService,
    DemoAccounts,
    IssuedCredentials,
    unknown_password_ha1s,
)

__all__ = [
    "DEMO_EXTENSIONS",
    "DEMO_TENANT",
    "PASSWORD_ALPHABET",
    "PASSWORD_LENGTH",
    "TRUNK_TRANSPORTS",
    "AccountsService",
    "AccountsStore",
    "AccountsUnitOfWork",
    "AclView",
    "AuditEntry",
    "DemoAccounts",
    "Directory",
    "Extension",
    "FraudService",
    "FraudUnitOfWork",
    "GuardService",
    "IssuedCredentials",
    "PhoneNumber",
    "PolicyCheck",
    "PolicyService",
    "PolicyUnitOfWork",
    "PolicyView",
    "RandomSource",
    "RatesImport",
    "Tenant",
    "TenantId",
    "Trunk",
    "caller_id_for",
    "check_block_pattern",
    "check_email",
    "check_pin",
    "generate_password",
    "limits_from_text",
    "normalise_domain",
    "normalise_e164",
    "normalise_host",
    "parse_duration",
    "parse_host_port",
    "parse_setting",
    "pin_realm",
    "unknown_password_ha1s",
]
