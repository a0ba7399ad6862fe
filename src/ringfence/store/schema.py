"""The tables, as SQLAlchemy 2 typed declarative classes. Alembic migrations build them.

Timestamps are wall-clock epoch seconds (UTC) in double-precision columns, the same numbers
the call path uses, on SQLite and PostgreSQL alike. Text that comes from the network (Call-ID,
Contact, User-Agent, caller and callee) is ``TEXT``, so that both backends take the same
values. Any change here needs a new revision in ``migrations/versions`` (a test compares them).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AuditRow",
    "BanRow",
    "Base",
    "BindingRow",
    "CallRecordRow",
    "CallerBlockRow",
    "ExtensionRow",
    "FraudHoldRow",
    "FraudIncidentRow",
    "HighRiskRow",
    "MetaRow",
    "NotificationRow",
    "NumberRow",
    "PolicyRow",
    "RateRow",
    "SecurityContactRow",
    "TenantRow",
    "TrunkRow",
    "UsageLimitsRow",
    "UsageNodeRow",
    "UsageSpendRow",
    "WebhookRow",
]

# Named constraints, so that later migrations can alter them (SQLite batch mode needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A 64-bit id that is still SQLite's auto-incrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantRow(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    encryption_required: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[float] = mapped_column(Double)
    # Calls within the country are domestic; national numbers are read in its numbering plan.
    country: Mapped[str] = mapped_column(String(2), default="US", server_default="US")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    #: A containment of one of its extensions also resets that extension's SIP password.
    reset_password_on_contain: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: Networks its phones may register and call from (comma-separated CIDR; empty: anywhere).
    allow_from: Mapped[str] = mapped_column(Text, default="", server_default="")


class ExtensionRow(Base):
    __tablename__ = "extensions"
    __table_args__ = (UniqueConstraint("tenant_id", "ext"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    ext: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str | None] = mapped_column(String(64))
    ha1_md5: Mapped[str] = mapped_column(String(32))
    ha1_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Double)
    # The PIN, as digest HA1 values for the realm "pin.<domain>" (the fraud guard's step-up).
    pin_ha1_md5: Mapped[str | None] = mapped_column(String(32), nullable=True)
    pin_ha1_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Networks this extension's phones may use; empty: the tenant's.
    allow_from: Mapped[str] = mapped_column(Text, default="", server_default="")


class TrunkRow(Base):
    __tablename__ = "trunks"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("transport IN ('udp', 'tcp', 'tls')", name="transport"),
        CheckConstraint("port BETWEEN 1 AND 65535", name="port"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    # One tenant per gateway address: the source address of a request names its tenant.
    host: Mapped[str] = mapped_column(String(255), unique=True)
    port: Mapped[int] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(3))
    username: Mapped[str | None] = mapped_column(String(64))
    # Kept usable to answer the gateway's challenges; encrypted at rest with the privacy issue.
    password: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Double)
    #: Networks its requests are accepted from; empty: its host alone.
    allow_from: Mapped[str] = mapped_column(Text, default="", server_default="")


class NumberRow(Base):
    __tablename__ = "numbers"
    __table_args__ = (
        # A number rings an extension of its own tenant; the extension cannot go while it does.
        ForeignKeyConstraint(
            ["tenant_id", "ext"],
            ["extensions.tenant_id", "extensions.ext"],
            ondelete="RESTRICT",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(16), unique=True)
    ext: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[float] = mapped_column(Double)


class BindingRow(Base):
    """A registration (RFC 3261 §10.3), written through by the registrar."""

    __tablename__ = "bindings"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "ext"],
            ["extensions.tenant_id", "extensions.ext"],
            ondelete="CASCADE",
        ),
        Index(None, "tenant_id", "ext"),
        Index(None, "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(Integer)
    ext: Mapped[str] = mapped_column(String(32))
    contact: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[float] = mapped_column(Double)
    call_id: Mapped[str] = mapped_column(Text)
    cseq: Mapped[int] = mapped_column(BigInteger)
    q: Mapped[float | None] = mapped_column(Double)
    instance: Mapped[str | None] = mapped_column(Text)
    reg_id: Mapped[str | None] = mapped_column(Text)
    transport: Mapped[str] = mapped_column(String(8))
    source_host: Mapped[str] = mapped_column(Text)
    source_port: Mapped[int] = mapped_column(Integer)
    user_agent: Mapped[str | None] = mapped_column(Text)


class CallRecordRow(Base):
    """One call attempt, written when it ended."""

    __tablename__ = "call_records"
    __table_args__ = (
        CheckConstraint("direction IN ('internal', 'outbound', 'inbound')", name="direction"),
        Index(None, "tenant_id", "ended_at"),
        Index(None, "ended_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    call_id: Mapped[str] = mapped_column(Text)
    caller: Mapped[str] = mapped_column(Text)
    callee: Mapped[str] = mapped_column(Text)
    direction: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[float] = mapped_column(Double)
    answered_at: Mapped[float | None] = mapped_column(Double)
    ended_at: Mapped[float] = mapped_column(Double)
    duration: Mapped[float] = mapped_column(Double)
    final_status: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(64))
    cost: Mapped[str | None] = mapped_column(String(32))  # a decimal, in ``currency``
    currency: Mapped[str | None] = mapped_column(String(3))


class AuditRow(Base):
    """Who did what to which tenant, and when. No secret is ever written here. The tenant id
    has no foreign key on purpose: the log outlives what it describes."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[float] = mapped_column(Double)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[int | None] = mapped_column(Integer)
    target: Mapped[str] = mapped_column(String(255))
    detail: Mapped[str] = mapped_column(Text, default="")
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)


class PolicyRow(Base):
    """The call-policy settings of a tenant (``ext`` empty) or of one of its extensions, as a
    JSON object of the values set; what is not set is inherited."""

    __tablename__ = "policy_settings"
    __table_args__ = (UniqueConstraint("tenant_id", "ext"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    ext: Mapped[str] = mapped_column(String(32), default="", server_default="")
    settings: Mapped[str] = mapped_column(Text)


class CallerBlockRow(Base):
    """A blocked inbound caller ID of a tenant (``ext`` empty) or of one extension."""

    __tablename__ = "caller_blocks"
    __table_args__ = (
        UniqueConstraint("tenant_id", "ext", "pattern"),
        CheckConstraint("treatment IN ('busy', 'reject', 'silence')", name="treatment"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    ext: Mapped[str] = mapped_column(String(32), default="", server_default="")
    pattern: Mapped[str] = mapped_column(String(32))
    treatment: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[float] = mapped_column(Double)


class RateRow(Base):
    """A price per minute by E.164 prefix: of one tenant, or global (``tenant_id`` 0)."""

    __tablename__ = "rates"
    __table_args__ = (UniqueConstraint("tenant_id", "prefix"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(Integer)  # 0: the global table
    prefix: Mapped[str] = mapped_column(String(15))
    price: Mapped[str] = mapped_column(String(32))  # a decimal, exactly as imported
    currency: Mapped[str] = mapped_column(String(3))


class HighRiskRow(Base):
    """The operator's high-risk range list; while it has rows it replaces the packaged one."""

    __tablename__ = "high_risk_ranges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(15), unique=True)
    label: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)


class UsageLimitsRow(Base):
    """The usage limits of a tenant (``ext`` empty) or one extension, as a JSON object of the
    values set; what is not set comes from the tenant, then from the safe defaults."""

    __tablename__ = "usage_limits"
    __table_args__ = (UniqueConstraint("tenant_id", "ext"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    ext: Mapped[str] = mapped_column(String(32), default="", server_default="")
    limits: Mapped[str] = mapped_column(Text)


class FraudIncidentRow(Base):
    """A fraud incident of a tenant (``ext`` empty) or one extension; ``actions`` is a JSON
    list of lines."""

    __tablename__ = "fraud_incidents"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'released')", name="status"),
        Index("ix_fraud_incidents_tenant_status", "tenant_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    ext: Mapped[str] = mapped_column(String(32), default="", server_default="")
    opened_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    level: Mapped[str] = mapped_column(String(8))
    score: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text)
    actions: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8))
    released_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    released_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class FraudHoldRow(Base):
    """What an open incident imposes on a tenant (``ext`` empty) or an extension."""

    __tablename__ = "fraud_holds"
    __table_args__ = (
        UniqueConstraint("tenant_id", "ext"),
        CheckConstraint("level IN ('pin', 'contain')", name="level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    ext: Mapped[str] = mapped_column(String(32), default="", server_default="")
    level: Mapped[str] = mapped_column(String(8))
    since: Mapped[float] = mapped_column(Double)
    incident_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class SecurityContactRow(Base):
    """An e-mail address that hears of a tenant's fraud incidents."""

    __tablename__ = "security_contacts"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))


class WebhookRow(Base):
    """A tenant's signed webhook for fraud incidents (one per tenant)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), unique=True
    )
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)


class NotificationRow(Base):
    """The outbox: one notice of one incident through one channel, until delivered."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'webhook')", name="channel"),
        Index("ix_notifications_pending", "delivered_at", "gave_up"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    incident_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[float] = mapped_column(Double)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    gave_up: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class MetaRow(Base):
    """One row. ``revision`` goes up in the same transaction as every admin change, so a
    running service polls one cheap query to know when to reload its directory."""

    __tablename__ = "meta"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageSpendRow(Base):
    """What a tenant (``ext`` empty) or an extension spent in a period (a day ``2026-11-24`` or
    a month ``2026-11``, on the tenant's clock), in millionths of the rate table's currency.
    Every node adds its calls' cost with one atomic increment."""

    __tablename__ = "usage_spend"
    __table_args__ = (Index("ix_usage_spend_updated_at", "updated_at"),)

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    ext: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    micros: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[float] = mapped_column(Double)


class UsageNodeRow(Base):
    """A node's live outbound calls and recent call starts, by usage key (``ext|3|1001``,
    ``trunk|2``, ``minute|3|1001``), rewritten by the node every second."""

    __tablename__ = "usage_nodes"

    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    at: Mapped[float] = mapped_column(Double)


class BanRow(Base):
    """A ban every node enforces: an address (``/32``, ``/128``) or an operator's network.

    ``until`` NULL is a ban without end. ``lifted``: an operator removed it at ``until``; the row
    stays a while so that every node drops the ban and none brings it back. ``updated_at`` lets
    a node read only what changed since its last sync.
    """

    __tablename__ = "bans"

    network: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[float] = mapped_column(Double)
    until: Mapped[float | None] = mapped_column(Double, nullable=True)
    reason: Mapped[str] = mapped_column(String(32))
    offences: Mapped[int] = mapped_column(Integer)
    lifted: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[float] = mapped_column(Double, index=True)
