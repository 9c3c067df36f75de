"""The policy file's model: systems, datasets, rules and holds.

Its first reader is a data protection officer, its second an auditor: every
model is strict (an unknown key is an error, not ignored), periods are
ISO-8601, and conditions are structured over declared columns; there is no
place to type an SQL fragment.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    Tag,
    field_validator,
    model_validator,
)

from retention.errors import IdentityError
from retention.identity import check_region
from retention.periods import Period
from retention.timezone import DEFAULT_ZONE

_NAME = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
_QUALIFIED = r"^[A-Za-z_][A-Za-z0-9_\-]*\.[A-Za-z_][A-Za-z0-9_\-]*$"


def _period(value: Any) -> Period:
    if isinstance(value, Period):
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"{value!r} is not an ISO-8601 period; write e.g. P5Y, P3Y6M, P30D or `immediately`"
        )
    return Period.parse(value)


# Integers a database column can hold (64 bits): a larger one is a typo, and
# would fail later, differently on each database.
_INT_RANGE = range(-(2**63), 2**63)


def _scalar(value: Any) -> Any:
    """One condition value: text, a number or true/false; said once, in words
    (a union type would list every branch pydantic tried)."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if value not in _INT_RANGE:
            raise ValueError(f"{value} is too large a number for a database column")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number")
        return value
    if hasattr(value, "isoformat"):  # YAML reads 2024-01-31 as a date: keep its ISO text
        return str(value.isoformat())
    raise ValueError(f"{_kind(value)} is not a value; write text, a number or true/false")


def _scalar_or_list(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_scalar(v) for v in value]
    return _scalar(value)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping ({...})"
    if isinstance(value, list):
        return "a list"
    return f"{value!r}"


PeriodField = Annotated[Period, BeforeValidator(_period), PlainSerializer(str, return_type=str)]
Name = Annotated[str, Field(pattern=_NAME)]
QualifiedName = Annotated[str, Field(pattern=_QUALIFIED, description="system.dataset")]
Scalar = Annotated[str | int | float | bool, PlainValidator(_scalar)]
ConditionValue = Annotated[
    str | int | float | bool | list[str | int | float | bool] | None,
    PlainValidator(_scalar_or_list),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(Strict):
    """Where a secret comes from: an environment variable or a Prefect Secret block."""

    env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    block: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.block is None):
            raise ValueError(
                "give exactly one of `env` (variable name) or `block` (Prefect Secret)"
            )
        return self

    def describe(self) -> str:
        return (
            f"environment variable {self.env}"
            if self.env
            else f"Prefect Secret block {self.block!r}"
        )


# --- conditions --------------------------------------------------------------

Op = Literal["eq", "ne", "in", "not_in", "is_null", "not_null", "lt", "le", "gt", "ge"]
_NEEDS_NO_VALUE = {"is_null", "not_null"}
_NEEDS_LIST = {"in", "not_in"}


class ColumnCondition(Strict):
    """`column op value` over a declared column. On a list-valued media fact
    (e.g. subjects), `in` means: any of the item's values is in the list."""

    column: Name
    op: Op = "eq"
    value: ConditionValue = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> ColumnCondition:
        if self.op in _NEEDS_NO_VALUE and self.value is not None:
            raise ValueError(f"op {self.op!r} takes no value")
        if self.op in _NEEDS_LIST and not (isinstance(self.value, list) and self.value):
            raise ValueError(f"op {self.op!r} needs a non-empty list as value")
        if self.op not in _NEEDS_NO_VALUE | _NEEDS_LIST and (
            self.value is None or isinstance(self.value, list)
        ):
            raise ValueError(f"op {self.op!r} needs a single value")
        return self


def _condition_kind(value: Any) -> str:
    """Which kind of condition a mapping is, by its one telling key: pydantic
    then reports the mistakes of that kind only, not of every kind it tried."""
    if isinstance(value, dict):
        if "related" in value:
            return "RelatedCondition"
        if "subjects_from" in value:
            return "SubjectCondition"
        return "ColumnCondition"
    return type(value).__name__


class RelatedCondition(Strict):
    """A related row (parent or child, by a declared relation) exists, or not,
    that matches `where`."""

    related: Name = Field(description="a dataset of the same system linked by a relation")
    exists: bool = True
    # A nested RelatedCondition follows a second link, e.g. comments -> their
    # ticket -> its requester, which the register's rules need.
    where: list[LinkedCondition] = []


LinkedCondition = Annotated[
    Annotated[ColumnCondition, Tag("ColumnCondition")]
    | Annotated[RelatedCondition, Tag("RelatedCondition")],
    Discriminator(_condition_kind),
]
RelatedCondition.model_rebuild()


class SubjectsFrom(Strict):
    dataset: QualifiedName
    column: Name = Field(description="the column holding the subject id")
    where: list[ColumnCondition] = []


class SubjectCondition(Strict):
    """The record's subject is among those a query of another dataset (maybe in
    another system) finds, e.g. photos of contacts who withdrew their consent."""

    column: Name = Field(description="this dataset's column or fact holding subject ids")
    subjects_from: SubjectsFrom


Condition = Annotated[
    Annotated[ColumnCondition, Tag("ColumnCondition")]
    | Annotated[RelatedCondition, Tag("RelatedCondition")]
    | Annotated[SubjectCondition, Tag("SubjectCondition")],
    Discriminator(_condition_kind),
]


class Due(Strict):
    """Which records are due: older than `after` by `clock`, and matching `where`."""

    clock: Name | None = None
    after: PeriodField | None = None
    where: list[Condition] = []

    @model_validator(mode="after")
    def _something(self) -> Due:
        if (self.clock is None) != (self.after is None):
            raise ValueError("`clock` and `after` go together: give both or neither")
        if self.clock is None and not self.where:
            raise ValueError(
                "a rule must say which records are due: a clock and period, or `where`"
            )
        return self


# --- actions -----------------------------------------------------------------

StrategyName = Literal["null", "constant", "keyed_hash", "generalise_date", "fake", "redact"]
FakeKind = Literal[
    "name", "first_name", "last_name", "email", "phone", "company", "address", "city", "text"
]


def _yaml_null(value: Any) -> Any:
    # `strategy: null` unquoted is YAML's null; the author meant the strategy.
    return "null" if value is None else value


class Strategy(Strict):
    """One anonymisation step for a field; a field may chain several."""

    strategy: Annotated[StrategyName, BeforeValidator(_yaml_null)]
    value: Scalar | None = None
    to: Literal["month", "year"] | None = None
    fake: FakeKind | None = None
    identifiers: list[str] = Field(
        default=[],
        description="redact: columns holding the subject's identifiers; "
        "`dataset.column` reaches a parent by a declared relation",
    )
    replacement: str = "[redacted]"
    # Set by an erasure request, never written in a policy file: the
    # subject's own identifiers (name, email, phone, username) to redact.
    values: list[str] = Field(default=[], exclude=True, repr=False)

    @model_validator(mode="after")
    def _params(self) -> Strategy:
        if self.strategy == "constant" and self.value is None:
            raise ValueError("strategy 'constant' needs `value`")
        if self.strategy == "generalise_date" and self.to is None:
            raise ValueError("strategy 'generalise_date' needs `to: month` or `to: year`")
        if self.strategy == "fake" and self.fake is None:
            raise ValueError("strategy 'fake' needs `fake:` (name, email, phone, ...)")
        if self.strategy == "redact" and not (self.identifiers or self.values):
            raise ValueError("strategy 'redact' needs `identifiers:` (columns naming the subject)")
        return self


def _chain(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


StrategyChain = Annotated[list[Strategy], BeforeValidator(_chain), Field(min_length=1)]


class Action(Strict):
    kind: Literal["delete", "anonymise"]
    fields: dict[Name, StrategyChain] = {}

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> Action:
        if self.kind == "anonymise" and not self.fields:
            raise ValueError("an 'anonymise' action needs `fields` with a strategy per field")
        if self.kind == "delete" and self.fields:
            raise ValueError("a 'delete' action takes no `fields`")
        return self


# --- holds and rules ---------------------------------------------------------


class Hold(Strict):
    """A law that keeps records although a rule finds them due."""

    id: Name
    law: str = Field(min_length=3)
    why: str = Field(min_length=3)
    dataset: QualifiedName = Field(description="where the records the law keeps live")
    clock: Name
    period: PeriodField
    from_year_end: bool = Field(
        default=False, description="count from the end of the clock's (financial) year"
    )


class Limits(Strict):
    """Above these, a run waits for an operator's approval."""

    max_count: int = Field(default=1000, ge=0)
    max_share: float = Field(default=0.25, ge=0.0, le=1.0)


class Rule(Strict):
    id: Name
    clause: str = Field(min_length=3, description="the register's sentence this rule enforces")
    why: str = Field(min_length=3)
    dataset: QualifiedName
    due: Due
    action: Action
    holds: list[Name] = []
    when_held: Literal["keep", "anonymise"] = "keep"
    held_action: Action | None = None
    limits: Limits | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _held_action(self) -> Rule:
        if self.when_held == "anonymise":
            if self.held_action is None or self.held_action.kind != "anonymise":
                raise ValueError("`when_held: anonymise` needs `held_action` of kind 'anonymise'")
        elif self.held_action is not None:
            raise ValueError("`held_action` only applies with `when_held: anonymise`")
        return self


# --- systems and datasets ----------------------------------------------------


class LinkTable(Strict):
    """parent <- link.parent_column ... link.child_column -> child key."""

    table: str
    parent_column: Name
    child_column: Name


class Relation(Strict):
    """A child dataset whose rows belong to a row of this dataset. Deletion
    runs children first; a schema without foreign keys is described here."""

    child: Name
    column: Name | None = Field(
        default=None, description="child column holding the parent's key (not with `through`)"
    )
    parent_column: Name | None = Field(default=None, description="default: the primary key")
    discriminator: dict[Name, Scalar] = Field(
        default={}, description="polymorphic links: e.g. {object_type: T} on the child"
    )
    through: LinkTable | None = None
    on_delete: Literal["delete", "detach"] = Field(
        default="delete", description="delete the children, or set their link column to null"
    )

    @model_validator(mode="after")
    def _one_link(self) -> Relation:
        if (self.column is None) == (self.through is None):
            raise ValueError("give exactly one of `column` or `through`")
        return self


class Facts(Strict):
    """Where a media item's facts come from."""

    source: Literal["metadata", "tags", "sidecar", "index"]
    names: dict[Name, str] = Field(
        default={}, description="fact -> metadata key / tag key / sidecar field / index column"
    )
    index: QualifiedName | None = Field(default=None, description="source: index: the CRM table")
    index_key: Name = "object_key"
    list_separator: str = " "

    @model_validator(mode="after")
    def _index(self) -> Facts:
        if (self.source == "index") != (self.index is not None):
            raise ValueError("`index:` is needed with, and only with, `source: index`")
        return self


RequestKind = Literal["erasure", "marketing-withdrawn", "photography-withdrawn"]


class Erasure(Strict):
    """What a data subject's request does to their records in this dataset:
    delete or anonymise (`action`), or keep them with a reason (`keep`);
    the holds that keep a record although erasure asks, and what happens to
    a held record; conditions under which the person is restricted (kept,
    flagged and reported) instead, e.g. while their cooperation is in force."""

    action: Action | None = None
    keep: str | None = Field(default=None, min_length=3, description="why the records stay")
    requests: list[RequestKind] = Field(
        default=["erasure"], min_length=1, description="which requests act here"
    )
    holds: list[Name] = []
    held_action: Action | None = None
    restrict_when: list[ColumnCondition] = Field(
        default=[], description="a record of the subject matching these restricts the request"
    )
    why: str = Field(default="", description="the register's reason, for the certificate")

    @model_validator(mode="after")
    def _one_outcome(self) -> Erasure:
        if (self.action is None) == (self.keep is None):
            raise ValueError("give exactly one of `action` (delete or anonymise) or `keep` (why)")
        if self.held_action is not None and self.held_action.kind != "anonymise":
            raise ValueError("`held_action` must be of kind 'anonymise'")
        return self


LegalBasis = Literal["consent", "contract", "legal obligation", "legitimate interest"]


class Dataset(Strict):
    table: str | None = Field(default=None, description="SQL: the table")
    prefix: str | None = Field(default=None, description="media: the object key prefix")
    primary_key: Name = "id"
    identity_fields: dict[Name, Name] = Field(
        default={}, description="identity kind (email, phone, crm_contact_id...) -> column"
    )
    personal_fields: list[Name] = []
    columns: list[Name] = Field(default=[], description="other columns rules may use")
    relations: list[Relation] = []
    reflect_foreign_keys: bool = True
    facts: Facts | None = None
    erasure: Erasure | None = None
    free_text: list[Name] = Field(
        default=[],
        description="text columns where anyone may have named a person: an erasure "
        "redacts the subject from them in every row, also other people's",
    )
    # What an access report tells the person about this category (GDPR art. 15).
    purpose: str | None = Field(
        default=None, min_length=3, description="why the register holds these records"
    )
    legal_basis: LegalBasis | None = Field(
        default=None, description="the ground for processing them (REGISTER.md)"
    )

    def declared_columns(self) -> set[str]:
        return (
            {self.primary_key}
            | set(self.identity_fields.values())
            | set(self.personal_fields)
            | set(self.columns)
            | set(self.free_text)
        )


class Reviewed(Strict):
    """A table, its columns, or a media prefix that no dataset declares and a
    person reviewed: not personal data (a company's address), with the
    reason. `retention coverage` stops flagging it; an auditor reads why."""

    table: str | None = Field(default=None, description="SQL: the table")
    columns: list[Name] = Field(default=[], description="its columns; empty: the whole table")
    prefix: str | None = Field(default=None, description="media: a top-level key prefix")
    reason: str = Field(min_length=10, description="why this is not personal data")

    @model_validator(mode="after")
    def _one_place(self) -> Reviewed:
        if (self.table is None) == (self.prefix is None):
            raise ValueError("give exactly one of `table` (SQL) or `prefix` (media)")
        if self.prefix is not None and self.columns:
            raise ValueError("`columns` only go with `table`")
        return self


class System(Strict):
    kind: Literal["sql", "s3", "folder"]
    connection: SecretRef | None = Field(
        default=None, description="sql: URL; folder: path; s3: endpoint URL (optional)"
    )
    bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
    region: str | None = None
    credentials_block: str | None = Field(default=None, description="Prefect AwsCredentials")
    retry_mode: Literal["standard", "adaptive"] = "standard"
    max_attempts: int = Field(default=5, ge=1, le=20)
    batch_size: int | None = Field(
        default=None,
        ge=1,
        le=50_000,
        description="keys per batch (one transaction, one ledger intent) in this system; "
        "default settings.batch_size. SQL gains from larger ones (5,000: fewer commits and "
        "round trips); S3 deletes at most 1,000 keys per request whatever is set",
    )
    datasets: dict[Name, Dataset]
    reviewed: list[Reviewed] = Field(
        default=[], description="undeclared tables, columns, prefixes reviewed as not personal"
    )

    @model_validator(mode="after")
    def _fits_kind(self) -> System:
        if self.kind in ("sql", "folder") and self.connection is None:
            raise ValueError(f"a {self.kind!r} system needs `connection`")
        if self.kind == "s3" and self.bucket is None:
            raise ValueError("an 's3' system needs `bucket`")
        if self.kind != "s3" and self.bucket is not None:
            raise ValueError("`bucket` is only for 's3' systems")
        for name, ds in self.datasets.items():
            if self.kind == "sql" and ds.table is None:
                raise ValueError(f"dataset {name!r}: an SQL dataset needs `table`")
            if self.kind != "sql" and ds.prefix is None:
                raise ValueError(f"dataset {name!r}: a media dataset needs `prefix`")
        return self


class Settings(Strict):
    # 1,000: one S3 DeleteObjects call, and large enough that the per-batch
    # ledger commit stays a small share of a batch's time.
    batch_size: int = Field(default=1000, ge=1, le=10_000)
    limits: Limits = Limits()
    hash_key: SecretRef = SecretRef(env="RETENTION_HASH_KEY")
    hash_key_id: str = Field(default="k1", min_length=1, description="stored with each entry")
    timezone: str = Field(
        default=DEFAULT_ZONE,
        description="an IANA time zone: naive timestamps in every system are read in it",
    )
    phone_region: str = Field(
        default="FI",
        description="the region (ISO 3166 code) of phone numbers written without a country code",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"{value!r} is not a time zone of the tz database; write e.g. Europe/Helsinki"
            ) from None
        return value

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        try:
            return check_region(value)
        except IdentityError as exc:
            raise ValueError(str(exc)) from None


class Policy(Strict):
    version: Literal[1]
    name: Name
    controller: str
    register_name: str | None = None
    settings: Settings = Settings()
    systems: dict[Name, System]
    holds: list[Hold] = []
    rules: list[Rule] = Field(min_length=1)

    def dataset(self, qualified: str) -> tuple[str, str, System, Dataset]:
        system_name, dataset_name = qualified.split(".", 1)
        system = self.systems[system_name]
        return system_name, dataset_name, system, system.datasets[dataset_name]

    def hold(self, hold_id: str) -> Hold:
        return next(h for h in self.holds if h.id == hold_id)


def split_name(qualified: str) -> tuple[str, str]:
    system, dataset = qualified.split(".", 1)
    return system, dataset


def is_wildcard(text: str) -> bool:
    return bool(re.search(r"[*%?]", text))
