"""Two third-party-shaped schemas for erasure tests and the erasure benchmark.

helpdesk (osTicket-like): no foreign keys at all; threads are polymorphic
(object_type T ticket, U user notes, A task) and their ids collide with
other objects' ids on purpose; a user's id is stored as text in the
sessions table; 0, never NULL, means "no link" (staff_id, user_id, org_id);
staff replies and other users' messages name the person, by name (also
inflected), username, email in capitals and phone number in any spacing.

crm (SuiteCRM-like): UUID keys, soft-deleted rows (deleted = 1) that still
hold data, email addresses in their own table with an upper-case copy of
each, one polymorphic link table (bean_module) shared by contacts, leads
and accounts, a note on the person's company that names her (the company
stays), and invoices the Accounting Act keeps.

`helpdesk_rows(n)` / `crm_rows(n)` give every table's rows for n people,
the subject (Matti Virtanen) among them; `extra` gives the subject that
many more child rows (the benchmark's one big subject).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

FIXTURES = Path(__file__).parent / "fixtures"
HELPDESK_POLICY = FIXTURES / "helpdesk-policy.yaml"
CRM_POLICY = FIXTURES / "crm-policy.yaml"

Rows = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    emails: tuple[str, ...]
    phone: str
    username: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


SUBJECT = Person(
    "Matti",
    "Virtanen",
    ("matti.virtanen@example.fi", "m.virtanen@posti.example"),
    "+358 40 123 4567",
    "mvirtanen",
)
# What must be gone from every text column: her emails, phone (compared by
# digits), names and username, and the stem of her inflected surname.
SUBJECT_NEEDLES = [*SUBJECT.emails, "401234567", SUBJECT.name, "Matti", "Virtanen", "Virtas",
                   SUBJECT.username]  # fmt: skip

_FIRST = ["Liisa", "Pekka", "Anna", "Juha", "Sari", "Olli", "Eeva", "Timo", "Kirsi", "Jukka"]
_LAST = ["Korhonen", "Nieminen", "Makinen", "Hamalainen", "Laine", "Heikkinen", "Koskinen",
         "Jarvinen", "Lehtinen", "Saarinen", "Salminen", "Rantanen"]  # fmt: skip


def person(i: int) -> Person:
    """Person number i (1-based); number SUBJECT_AT is the subject. Nobody
    else shares a word of her name, her phone's digits or her username."""
    if i == SUBJECT_AT:
        return SUBJECT
    # Past the word lists, names get a letter suffix: a thousand requests
    # must not name every "Pekka" in the helpdesk (a lone name word is redacted).
    suffix = "" if i < 120 else _letters(i)
    first = _FIRST[i % len(_FIRST)] + suffix
    last = _LAST[(i // len(_FIRST)) % len(_LAST)] + suffix
    tag = f"{i:06d}"
    return Person(
        first,
        last,
        (f"{first.lower()}.{last.lower()}.{tag}@example.com",),
        f"+358 50 7{tag}",
        f"{first[0].lower()}{last.lower()}{tag}",
    )


SUBJECT_AT = 3


def _letters(i: int) -> str:
    out = ""
    while i:
        i, r = divmod(i, 26)
        out += chr(ord("a") + r)
    return out


WHEN = datetime(2025, 3, 4, 10, 0)


def text_type(length: int | None = None) -> sa.types.TypeEngine[str]:
    return sa.String(length) if length else sa.Text()


# --- helpdesk ---------------------------------------------------------------

helpdesk = sa.MetaData()
sa.Table("hd_organizations", helpdesk, sa.Column("id", sa.Integer, primary_key=True,
         autoincrement=False), sa.Column("name", sa.String(100)))  # fmt: skip
sa.Table(
    "hd_users",
    helpdesk,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("org_id", sa.Integer, nullable=False, server_default="0"),
    sa.Column("name", sa.String(128)),
    sa.Column("phone", sa.String(40)),
    sa.Column("created", sa.DateTime),
)
sa.Table(
    "hd_user_emails",
    helpdesk,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("address", sa.String(255)),
)
sa.Table(
    "hd_user_accounts",
    helpdesk,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("username", sa.String(64)),
    sa.Column("passwd", sa.String(128)),
)
sa.Table(
    "hd_staff",
    helpdesk,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("username", sa.String(64)),
    sa.Column("firstname", sa.String(64)),
    sa.Column("lastname", sa.String(64)),
    sa.Column("email", sa.String(255)),
)
sa.Table(
    "hd_sessions",
    helpdesk,
    sa.Column("id", sa.String(64), primary_key=True),
    # The user's id as text; '0' for a visitor who has not signed in.
    sa.Column("user_id", sa.String(16), nullable=False, server_default="0"),
    sa.Column("data", sa.Text),
    sa.Column("updated", sa.DateTime),
)
sa.Table(
    "hd_tickets",
    helpdesk,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("number", sa.String(20)),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("staff_id", sa.Integer, nullable=False, server_default="0"),
    sa.Column("subject", sa.String(255)),
    sa.Column("created", sa.DateTime),
)
sa.Table(
    "hd_tasks",
    helpdesk,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("title", sa.String(255)),
)
sa.Table(
    "hd_threads",
    helpdesk,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("object_id", sa.Integer, nullable=False),
    sa.Column("object_type", sa.String(1), nullable=False),
)
sa.Table(
    "hd_thread_entries",
    helpdesk,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("thread_id", sa.Integer, nullable=False),
    sa.Column("staff_id", sa.Integer, nullable=False, server_default="0"),
    sa.Column("user_id", sa.Integer, nullable=False, server_default="0"),
    sa.Column("poster", sa.String(128)),
    sa.Column("title", sa.String(255)),
    sa.Column("body", sa.Text),
    sa.Column("created", sa.DateTime),
)

STAFF = [(1, "klehtonen", "Kaisa", "Lehtonen"), (2, "jsalo", "Jari", "Salo")]


def helpdesk_rows(n: int, *, extra: int = 0, tickets_each: int = 2) -> Rows:
    """n users (the subject is user SUBJECT_AT), `tickets_each` tickets each
    with a thread of two entries; `extra` more child rows for the subject
    (tickets with their thread and two entries: 4 rows a ticket)."""
    rows: Rows = {t: [] for t in helpdesk.tables}
    rows["hd_organizations"] = [{"id": 1, "name": "Kivi Oy"}, {"id": 2, "name": "Puu Ab"}]
    rows["hd_staff"] = [
        {"id": i, "username": u, "firstname": f, "lastname": last, "email": f"{u}@desk.example"}
        for i, u, f, last in STAFF
    ]
    ticket_id = thread_id = entry_id = 0
    subject_tickets: list[int] = []
    other_threads: list[int] = []

    def entry(thread: int, **values: Any) -> None:
        nonlocal entry_id
        entry_id += 1
        base = {"staff_id": 0, "user_id": 0, "title": None, "created": WHEN}
        rows["hd_thread_entries"].append({"id": entry_id, "thread_id": thread, **base, **values})

    for uid in range(1, n + 1):
        p = person(uid)
        rows["hd_users"].append(
            # 0, not NULL, for a user of no organisation.
            {"id": uid, "org_id": uid % 3, "name": p.name, "phone": p.phone, "created": WHEN}
        )
        for k, address in enumerate(p.emails):
            rows["hd_user_emails"].append({"id": uid * 10 + k, "user_id": uid, "address": address})
        rows["hd_user_accounts"].append(
            {"id": uid, "user_id": uid, "username": p.username, "passwd": f"$2y$10${uid:08d}"}
        )
        rows["hd_sessions"].append(
            {"id": f"sess-{uid:06d}", "user_id": str(uid), "updated": WHEN,
             "data": f'{{"auth": {{"user": "{p.username}", "email": "{p.emails[0]}"}}}}'}
        )  # fmt: skip
        count = tickets_each + (extra // 4 if uid == SUBJECT_AT else 0)
        for _ in range(count):
            ticket_id += 1
            thread_id += 1
            staff = 1 + ticket_id % 2 if ticket_id % 3 else 0  # 0: nobody assigned yet
            rows["hd_tickets"].append(
                {"id": ticket_id, "number": f"T{ticket_id:07d}", "user_id": uid,
                 "staff_id": staff, "subject": f"Printer issue for {p.first}", "created": WHEN}
            )  # fmt: skip
            rows["hd_threads"].append({"id": thread_id, "object_id": ticket_id, "object_type": "T"})
            entry(thread_id, user_id=uid, poster=p.name, title=f"From {p.name}",
                  body=f"Hello, the printer is broken. Regards, {p.first} ({p.phone})")  # fmt: skip
            entry(thread_id, staff_id=1, poster="Kaisa Lehtonen",
                  body=f"Hei {p.first}, we sent a technician.")  # fmt: skip
            (subject_tickets if uid == SUBJECT_AT else other_threads).append(
                ticket_id if uid == SUBJECT_AT else thread_id
            )
    if n < SUBJECT_AT:
        return rows
    # Tasks whose ids are the subject's ticket ids, and a note thread about
    # another user whose id is one of them: only object_type tells them apart.
    for tid in subject_tickets[:2]:
        rows["hd_tasks"].append({"id": tid, "title": f"Replace toner, floor {tid}"})
        thread_id += 1
        rows["hd_threads"].append({"id": thread_id, "object_id": tid, "object_type": "A"})
        entry(thread_id, staff_id=2, poster="Jari Salo", body="Toner ordered.")
    thread_id += 1
    rows["hd_threads"].append({"id": thread_id, "object_id": SUBJECT_AT, "object_type": "U"})
    entry(thread_id, staff_id=1, poster="Kaisa Lehtonen",
          body="VIP customer, prefers calls to +358401234567.")  # fmt: skip
    noted = subject_tickets[0] if subject_tickets[0] <= n else 1
    thread_id += 1
    rows["hd_threads"].append({"id": thread_id, "object_id": noted, "object_type": "U"})
    entry(thread_id, staff_id=2, poster="Jari Salo", body="Pays late. Reminded twice.")
    # A visitor's session: 0 is "nobody", never user 0.
    rows["hd_sessions"].append({"id": "sess-anon", "user_id": "0", "data": "{}", "updated": WHEN})
    # Others' threads that name her.
    first, second = other_threads[0], other_threads[-1]
    staff_reply = "Same as MATTI.VIRTANEN@EXAMPLE.FI reported; Matti Virtanen got a new printer."
    entry(first, staff_id=2, poster="Jari Salo", body=staff_reply)
    entry(first, user_id=1, poster=person(1).name, title="Re: Virtasen tulostin",
          body="@mvirtanen had this too. Sovittu Virtasen kanssa.")  # fmt: skip
    # Her number alone, spaced as people write it: no name to find it by.
    entry(first, user_id=2, poster=person(2).name, body="Ring back on 040 123 4567 please.")
    entry(second, user_id=SUBJECT_AT, poster=SUBJECT.name, title="Me too",
          body="Same here. Matti (m.virtanen@posti.example)")  # fmt: skip
    entry(second, user_id=2, poster=person(2).name, body="Thanks, fixed now.")
    return rows


# --- crm ----------------------------------------------------------------------

crm = sa.MetaData()


def _uuid_col(name: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.String(36), **kw)


def _deleted() -> sa.Column[Any]:
    return sa.Column("deleted", sa.SmallInteger, nullable=False, server_default="0")


sa.Table("accounts", crm, _uuid_col("id", primary_key=True), sa.Column("name", sa.String(150)),
         sa.Column("phone_office", sa.String(40)), sa.Column("description", sa.Text),
         _deleted())  # fmt: skip
sa.Table(
    "contacts",
    crm,
    _uuid_col("id", primary_key=True),
    sa.Column("first_name", sa.String(100)),
    sa.Column("last_name", sa.String(100)),
    sa.Column("phone_mobile", sa.String(40)),
    _uuid_col("account_id"),
    sa.Column("description", sa.Text),
    _deleted(),
)
sa.Table(
    "leads",
    crm,
    _uuid_col("id", primary_key=True),
    sa.Column("first_name", sa.String(100)),
    sa.Column("last_name", sa.String(100)),
    sa.Column("phone_mobile", sa.String(40)),
    sa.Column("account_name", sa.String(150)),
    _uuid_col("contact_id"),  # the contact it was converted into
    _deleted(),
)
sa.Table(
    "email_addresses",
    crm,
    _uuid_col("id", primary_key=True),
    sa.Column("email_address", sa.String(255)),
    sa.Column("email_address_caps", sa.String(255)),
    sa.Column("opt_out", sa.SmallInteger, nullable=False, server_default="0"),
    _deleted(),
)
sa.Table(
    "email_addr_bean_rel",
    crm,
    _uuid_col("id", primary_key=True),
    _uuid_col("email_address_id", nullable=False),
    _uuid_col("bean_id", nullable=False),
    sa.Column("bean_module", sa.String(100), nullable=False),
    sa.Column("primary_address", sa.SmallInteger, nullable=False, server_default="0"),
    _deleted(),
)
sa.Table(
    "notes",
    crm,
    _uuid_col("id", primary_key=True),
    sa.Column("name", sa.String(255)),
    sa.Column("description", sa.Text),
    sa.Column("parent_type", sa.String(100)),
    _uuid_col("parent_id"),
    _deleted(),
)
sa.Table(
    "invoices",
    crm,
    _uuid_col("id", primary_key=True),
    sa.Column("number", sa.Integer),
    _uuid_col("billing_account_id"),
    _uuid_col("billing_contact_id"),
    sa.Column("billing_contact_name", sa.String(200)),
    sa.Column("invoice_date", sa.Date),
    _deleted(),
)


def uid(kind: str, i: int | str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{i}"))


def crm_rows(n: int, *, extra: int = 0) -> Rows:
    """n contacts at three companies, every third also a lead (converted);
    the subject also has a soft-deleted duplicate contact, and `extra` more
    notes on her contact."""
    rows: Rows = {t: [] for t in crm.tables}
    companies = [("Kivi Oy", "+358 9 111 2222"), ("Puu Ab", "+358 9 333 4444"),
                 ("Lasi Ltd", "+358 9 555 6666")]  # fmt: skip
    for c, (name, phone) in enumerate(companies):
        rows["accounts"].append(
            {"id": uid("account", c), "name": name, "phone_office": phone, "deleted": 0,
             "description": f"{name}, customer since 2019."}
        )  # fmt: skip
    link = 0
    addresses: set[str] = set()

    def email(address: str, bean: str, module: str, *, deleted: int = 0, key: str = "") -> None:
        nonlocal link
        eid = uid("email", key or address)
        if eid not in addresses:
            addresses.add(eid)
            rows["email_addresses"].append(
                {"id": eid, "email_address": address, "email_address_caps": address.upper(),
                 "opt_out": 0, "deleted": 0}
            )  # fmt: skip
        link += 1
        rows["email_addr_bean_rel"].append(
            {"id": uid("link", link), "email_address_id": eid, "bean_id": bean,
             "bean_module": module, "primary_address": 1, "deleted": deleted}
        )  # fmt: skip

    for i in range(1, n + 1):
        p = person(i)
        contact, account = uid("contact", i), uid("account", i % 3)
        rows["contacts"].append(
            {"id": contact, "first_name": p.first, "last_name": p.last, "deleted": 0,
             "phone_mobile": p.phone, "account_id": account, "description": None}
        )  # fmt: skip
        for address in p.emails:
            email(address, contact, "Contacts")
        if i % 3 == 0:
            lead = uid("lead", i)
            rows["leads"].append(
                {"id": lead, "first_name": p.first, "last_name": p.last, "deleted": 0,
                 "phone_mobile": p.phone, "account_name": "", "contact_id": contact}
            )  # fmt: skip
            email(p.emails[0], lead, "Leads")  # one address row, two owners
        rows["notes"].append(
            {"id": uid("note", i), "name": "Call", "parent_type": "Contacts", "parent_id": contact,
             "description": f"Called {p.first} about the renewal.", "deleted": 0}
        )  # fmt: skip
        for k, year in enumerate((2015, 2024)):
            rows["invoices"].append(
                {"id": uid("invoice", f"{i}/{k}"), "number": i * 10 + k, "deleted": 0,
                 "billing_account_id": account, "billing_contact_id": contact,
                 "billing_contact_name": p.name, "invoice_date": date(year, 6, 30)}
            )  # fmt: skip
    for k in range(extra):
        rows["notes"].append(
            {"id": uid("note-extra", k), "name": f"Visit {k}", "parent_type": "Contacts",
             "parent_id": uid("contact", SUBJECT_AT), "description": "Met at the office.",
             "deleted": 0}
        )  # fmt: skip
    if n < SUBJECT_AT:
        return rows
    her_company = uid("account", SUBJECT_AT % 3)
    # A duplicate of her contact, soft-deleted years ago: still her data,
    # linked to her address by a soft-deleted link.
    dup = uid("contact", "dup")
    rows["contacts"].append(
        {"id": dup, "first_name": "Matti", "last_name": "Virtanen", "phone_mobile": "0401234567",
         "account_id": her_company, "description": "duplicate", "deleted": 1}
    )  # fmt: skip
    email(SUBJECT.emails[0], dup, "Contacts", deleted=1)
    # The company's own address, in the same link table.
    email("info@kivi.example", her_company, "Accounts")
    rows["notes"] += [
        {"id": uid("note", "company"), "name": "Meeting with Matti Virtanen",
         "description": "Matti Virtanen (MATTI.VIRTANEN@EXAMPLE.FI, 040 123 4567) leads the "
                        "Kivi renewal; budget approved.",
         "parent_type": "Accounts", "parent_id": her_company, "deleted": 0},
        {"id": uid("note", "old"), "name": "Old note", "parent_type": "Leads",
         "parent_id": uid("lead", SUBJECT_AT), "deleted": 1,
         "description": "Ring Matti on 040-123 4567 (soft-deleted, still stored)"},
        {"id": uid("note", "colleague"), "name": "Handover", "parent_type": "Contacts",
         "parent_id": uid("contact", 1), "deleted": 0,
         "description": "Takes over from Virtanen; Virtasen asiakkaat siirtyvat."},
    ]  # fmt: skip
    return rows


def build(url: str, metadata: sa.MetaData, rows: Rows) -> None:
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            for table in metadata.sorted_tables:
                batch = rows.get(table.name) or []
                for start in range(0, len(batch), 5000):
                    conn.execute(table.insert(), batch[start : start + 5000])
    finally:
        engine.dispose()
