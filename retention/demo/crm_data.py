"""The CRM's rows: companies, contacts and everything hanging off a contact.

Contacts are generated in cohorts, one per case the policy must handle (a
former customer past the limitation period, one kept by a recent invoice...),
and every cohort is counted in `Rows.cohorts` so tests can check the mix.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from retention.demo.people import Company, PeopleFactory, Person
from retention.demo.rows import Rows
from retention.demo.timeline import Timeline, year_end

# Cohort sizes at scale 1; `scale` multiplies each.
CONTACT_COHORTS = {
    "active": 160,
    "prospect_subscribed": 40,
    "prospect_withdrawn": 15,
    "customer_dm_withdrawn": 10,
    "former_recent": 30,
    "former_due": 30,
    "former_held_invoice": 10,
    "former_held_contractor": 5,
}
COMPANY_MIX = {"prospect": 12, "customer": 30, "partner": 8, "former": 10}
WEB_VISITS = 400

NEWSLETTERS = ("ID North Insights", "Event invitations", "Product news")
PRODUCTS = (
    "Identity Governance licence",
    "PAM implementation",
    "Access review service",
    "Support agreement",
    "Training day",
)
INTERESTS = (
    "identity governance",
    "privileged access",
    "MFA",
    "SSO",
    "access reviews",
    "zero trust",
    "customer identity",
)
EVENTS = (
    "Identity Day Helsinki",
    "IAM Breakfast Stockholm",
    "Zero Trust Webinar",
    "Partner Summit Borås",
    "Customer Evening Gothenburg",
)
CONTRACTOR_DOCUMENTS = (
    "trade register extract; tax debt certificate; pension insurance; "
    "occupational health care; collective agreement"
)
WEB_PATHS = ("/", "/services", "/events", "/contact", "/blog/zero-trust", "/careers")


@dataclass(frozen=True)
class TicketingCandidate:
    """A CRM contact who also has a ticketing account."""

    contact_id: int
    person: Person
    deregister: bool


@dataclass
class CrmData:
    rows: Rows
    ticketing: list[TicketingCandidate] = field(default_factory=list)
    photographed: list[int] = field(default_factory=list)
    photo_consent_withdrawn: list[int] = field(default_factory=list)


def generate_crm(people: PeopleFactory, timeline: Timeline, scale: int) -> CrmData:
    data = CrmData(Rows())
    by_status = _companies(data.rows, people, timeline, scale)
    for cohort, size in CONTACT_COHORTS.items():
        for i in range(size * scale):
            _contact(data, people, timeline, cohort, i, by_status)
    _contractor_reports(data.rows, timeline, by_status)
    _web_visits(data.rows, people, timeline, scale)
    return data


def _companies(
    rows: Rows, people: PeopleFactory, timeline: Timeline, scale: int
) -> dict[str, list[tuple[int, Company]]]:
    by_status: dict[str, list[tuple[int, Company]]] = {s: [] for s in COMPANY_MIX}
    for status, size in COMPANY_MIX.items():
        for _ in range(size * scale):
            company = people.company(people.pick_locale())
            created = timeline.years_ago(2, 12)
            company_id = rows.add(
                "companies",
                name=company.name,
                business_id=company.business_id,
                street_address=company.street_address,
                postal_code=company.postal_code,
                city=company.city,
                country=company.country,
                relationship_status=status,
                cooperation_ended_at=timeline.years_ago(0.5, 9) if status == "former" else None,
                created_at=created,
            )
            by_status[status].append((company_id, company))
    return by_status


def _company_for(
    cohort: str, i: int, by_status: dict[str, list[tuple[int, Company]]], rng: random.Random
) -> tuple[int, Company, str]:
    if cohort.startswith("prospect"):
        pool, status = by_status["prospect"], "prospect"
    elif cohort.startswith("former"):
        # Half left with their company, half left a company that is still a customer.
        pool = by_status["former"] if i % 2 == 0 else by_status["customer"]
        status = "former"
    else:
        pool = by_status["customer"] + by_status["partner"]
        status = ""
    company_id, company = rng.choice(pool)
    if not status:
        status = "partner" if (company_id, company) in by_status["partner"] else "customer"
    return company_id, company, status


def _contact(
    data: CrmData,
    people: PeopleFactory,
    timeline: Timeline,
    cohort: str,
    i: int,
    by_status: dict[str, list[tuple[int, Company]]],
) -> None:
    rows, rng = data.rows, timeline.rng
    company_id, company, status = _company_for(cohort, i, by_status, rng)
    person = people.person(company.locale, company.domain)
    ended = {
        "former_recent": lambda: timeline.years_ago(0.3, 2.6),
        "former_due": lambda: (
            timeline.years_ago(3.5, 6) if i % 2 == 0 else timeline.years_ago(7.5, 10)
        ),
        "former_held_invoice": lambda: timeline.years_ago(3.2, 4.5),
        "former_held_contractor": lambda: timeline.years_ago(3.5, 5),
    }.get(cohort, lambda: None)()
    created = (
        timeline.years_ago(1, 3)
        if ended is None
        else ended - timedelta(days=rng.randint(400, 2500))
    )
    contact_id = rows.add(
        "contacts",
        company_id=company_id,
        first_name=person.first_name,
        last_name=person.last_name,
        email=person.email,
        phone=person.phone,
        job_title=people.job_title(person.language),
        interests=", ".join(rng.sample(INTERESTS, rng.randint(1, 3))),
        language=person.language,
        relationship_status=status,
        cooperation_ended_at=ended,
        created_at=created,
    )
    rows.count(f"contacts.{cohort}")
    _marketing(data, timeline, cohort, i, contact_id, created)
    _purchases(data.rows, timeline, cohort, i, contact_id, company_id, person, created, ended)
    if cohort == "former_held_contractor":
        _report(rows, timeline, company_id, contact_id, ended_years_ago=rng.uniform(0.3, 1.5))
    if cohort in ("active", "prospect_subscribed") and i % 3 == 0:
        _events(rows, timeline, contact_id)
    _photography(data, timeline, cohort, i, contact_id)
    _ticketing(data, cohort, i, contact_id, person)


def _consent(
    rows: Rows,
    timeline: Timeline,
    contact_id: int,
    purpose: str,
    withdrawn: bool,
    created: datetime,
) -> None:
    granted_at = timeline.between(created, timeline.as_of)
    rows.add(
        "consents",
        contact_id=contact_id,
        purpose=purpose,
        status="withdrawn" if withdrawn else "granted",
        source=timeline.rng.choice(("web form", "event registration", "sales representative")),
        changed_at=timeline.shortly_after(granted_at, 900) if withdrawn else granted_at,
    )


def _marketing(
    data: CrmData, timeline: Timeline, cohort: str, i: int, contact_id: int, created: datetime
) -> None:
    rows = data.rows
    withdrawn = cohort in ("prospect_withdrawn", "customer_dm_withdrawn")
    subscribes = (
        withdrawn
        or cohort == "prospect_subscribed"
        or (cohort == "active" and i % 2 == 0)
        or (cohort.startswith("former") and i % 3 == 0)
    )
    if not subscribes:
        return
    _consent(rows, timeline, contact_id, "direct_marketing", withdrawn, created)
    if withdrawn:
        rows.count("consents.direct_marketing_withdrawn")
    withdrawn_at = rows.tables["consents"][-1]["changed_at"] if withdrawn else None
    newsletters = [NEWSLETTERS[i % len(NEWSLETTERS)]]
    if cohort == "active" and i % 8 == 0:
        newsletters.append(NEWSLETTERS[(i + 1) % len(NEWSLETTERS)])
    for n, newsletter in enumerate(newsletters):
        subscribed = timeline.between(created, withdrawn_at or timeline.as_of)
        if withdrawn_at is not None:
            # The marketing tool sometimes lags: a third still show as subscribed.
            unsubscribed = None if i % 3 == 0 else withdrawn_at
        else:
            unsubscribed = timeline.shortly_after(subscribed, 300) if n == 1 else None
        sub_id = rows.add(
            "newsletter_subscriptions",
            contact_id=contact_id,
            newsletter=newsletter,
            subscribed_at=subscribed,
            unsubscribed_at=unsubscribed,
        )
        rows.count("subscriptions.unsubscribed" if unsubscribed else "subscriptions.active")
        if withdrawn:
            rows.count("subscriptions.of_withdrawn_consent")
        for _ in range(timeline.rng.randint(0, 4)):
            kind = timeline.rng.choice(("open", "open", "click"))
            rows.add(
                "newsletter_reactions",
                subscription_id=sub_id,
                kind=kind,
                link_url="https://www.id-north.fi/events" if kind == "click" else None,
                occurred_at=timeline.between(subscribed, unsubscribed or timeline.as_of),
            )


def _purchases(
    rows: Rows,
    timeline: Timeline,
    cohort: str,
    i: int,
    contact_id: int,
    company_id: int,
    person: Person,
    created: datetime,
    ended: datetime | None,
) -> None:
    rng = timeline.rng
    if cohort == "active" and i % 2 == 0:
        moments = [timeline.years_ago(0.1, 7) for _ in range(rng.randint(1, 3))]
    elif cohort == "former_recent":
        assert ended is not None
        moments = [ended - timedelta(days=rng.randint(60, 1100)) for _ in range(rng.randint(1, 2))]
    elif cohort == "former_due" and i % 2 == 1:
        assert ended is not None
        moments = [ended - timedelta(days=rng.randint(110, 700)) for _ in range(rng.randint(1, 2))]
    elif cohort == "former_held_invoice":
        assert ended is not None
        moments = [ended - timedelta(days=rng.randint(70, 290))]
    else:
        return
    for moment in moments:
        purchase_id = rows.add(
            "purchases",
            company_id=company_id,
            contact_id=contact_id,
            product=rng.choice(PRODUCTS),
            amount_cents=rng.randint(50, 900) * 1000,
            purchased_at=moment,
        )
        issued = moment + timedelta(days=rng.randint(1, 20))
        invoice_number = f"IDN-{issued.year}-{len(rows.tables.get('invoices', [])) + 1:05d}"
        rows.add(
            "invoices",
            purchase_id=purchase_id,
            contact_id=contact_id,
            invoice_number=invoice_number,
            billing_name=person.full_name,
            billing_email=person.email,
            amount_cents=rows.tables["purchases"][-1]["amount_cents"],
            issued_at=issued,
            fiscal_year_end=year_end(issued),
        )
        rows.count(f"invoices.{cohort}")


def _report(
    rows: Rows,
    timeline: Timeline,
    company_id: int,
    contact_id: int | None,
    ended_years_ago: float | None,
) -> None:
    ended = (
        None if ended_years_ago is None else timeline.years_ago(ended_years_ago, ended_years_ago)
    )
    started = (ended or timeline.as_of) - timedelta(days=timeline.rng.randint(30, 500))
    rows.add(
        "contractor_reports",
        company_id=company_id,
        contact_id=contact_id,
        contract_ref=f"SOW-{len(rows.tables.get('contractor_reports', [])) + 1:04d}",
        documents=CONTRACTOR_DOCUMENTS,
        work_started_at=started,
        work_ended_at=ended,
    )


def _contractor_reports(
    rows: Rows, timeline: Timeline, by_status: dict[str, list[tuple[int, Company]]]
) -> None:
    """Reports of customers' and partners' contract work, ended at various times."""
    active = [
        r for r in rows.tables["contacts"] if r["relationship_status"] in ("customer", "partner")
    ]
    by_company: dict[int, int] = {}
    for contact in active:
        by_company.setdefault(contact["company_id"], contact["id"])
    companies = by_status["customer"] + by_status["partner"]
    for k, (company_id, _) in enumerate(companies):
        ended_years = (None, 0.5, 1.5, timeline.rng.uniform(3.5, 6), 2.5)[k % 5]
        _report(rows, timeline, company_id, by_company.get(company_id), ended_years)
        rows.count(
            "contractor_reports.ongoing"
            if ended_years is None
            else "contractor_reports.ended_over_3y"
            if ended_years > 3
            else "contractor_reports.ended_within_3y"
        )


def _events(rows: Rows, timeline: Timeline, contact_id: int) -> None:
    for _ in range(timeline.rng.randint(1, 2)):
        registered = timeline.years_ago(0.1, 4)
        event_day = timeline.shortly_after(registered, 45)
        rows.add(
            "event_registrations",
            contact_id=contact_id,
            event_name=timeline.rng.choice(EVENTS),
            event_date=event_day.date(),
            attended=event_day < timeline.as_of and timeline.rng.random() < 0.7,
            registered_at=registered,
        )


def _photography(data: CrmData, timeline: Timeline, cohort: str, i: int, contact_id: int) -> None:
    if not ((cohort == "active" and i % 5 == 0) or (cohort == "former_recent" and i % 6 == 0)):
        return
    withdrawn = cohort == "active" and i % 25 == 0
    created = timeline.years_ago(6, 9)
    _consent(data.rows, timeline, contact_id, "photography", withdrawn, created)
    data.photographed.append(contact_id)
    if withdrawn:
        data.photo_consent_withdrawn.append(contact_id)
        data.rows.count("consents.photography_withdrawn")


def _ticketing(data: CrmData, cohort: str, i: int, contact_id: int, person: Person) -> None:
    if cohort == "active" and i % 2 == 1:
        data.ticketing.append(TicketingCandidate(contact_id, person, deregister=i % 15 == 1))
    elif cohort in ("former_recent", "former_due") and i % 3 == 1:
        data.ticketing.append(TicketingCandidate(contact_id, person, deregister=True))
    elif cohort == "customer_dm_withdrawn":
        data.ticketing.append(TicketingCandidate(contact_id, person, deregister=False))


def _web_visits(rows: Rows, people: PeopleFactory, timeline: Timeline, scale: int) -> None:
    known = [
        r["id"]
        for r in rows.tables["contacts"]
        if r["relationship_status"] in ("customer", "partner", "prospect")
    ]
    visitors = [(f"{timeline.rng.getrandbits(64):016x}", people.ipv4()) for _ in range(120 * scale)]
    for _ in range(WEB_VISITS * scale):
        cookie, ip = timeline.rng.choice(visitors)
        rows.add(
            "web_visits",
            cookie_id=cookie,
            ip_address=ip,
            user_agent=timeline.rng.choice(
                ("Mozilla/5.0 (Windows NT 10.0)", "Mozilla/5.0 (Macintosh)", "Mozilla/5.0 (iPhone)")
            ),
            path=timeline.rng.choice(WEB_PATHS),
            contact_id=timeline.rng.choice(known) if timeline.rng.random() < 0.25 else None,
            visited_at=timeline.years_ago(0, 2.5),
        )
