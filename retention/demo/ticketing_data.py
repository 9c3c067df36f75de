"""The ticketing system's rows: users (customers and ID North's agents), their
logins, tickets, and comments whose free text names the requester."""

from __future__ import annotations

from datetime import datetime, timedelta

from retention.demo.crm_data import TicketingCandidate
from retention.demo.people import PeopleFactory, Person
from retention.demo.rows import Rows
from retention.demo.timeline import Timeline

AGENTS = 8
TICKETS = 600
TOPICS = (
    ("SSO login fails after password change", "the SAML assertion"),
    ("Access review export is empty", "the review campaign export"),
    ("MFA enrolment for new employees", "MFA enrolment"),
    ("Licence renewal question", "the licence renewal"),
    ("Connector to HR system stopped syncing", "the HR connector"),
    ("Request for a training session", "the training date"),
)


def generate_ticketing(
    people: PeopleFactory, timeline: Timeline, candidates: list[TicketingCandidate], scale: int
) -> Rows:
    rows = Rows()
    agents = [
        _user(rows, timeline, people.person("fi_FI", "id-north.com"), "agent", False)
        for _ in range(AGENTS)
    ]
    customers = [_user(rows, timeline, c.person, "customer", c.deregister) for c in candidates]
    for user_id, person, registered, _ in agents + customers:
        _login(rows, people, timeline, user_id, person, registered)
    for n in range(TICKETS * scale):
        # Every customer gets at least one ticket, then requesters repeat.
        requester = (
            customers[n % len(customers)] if n < len(customers) else timeline.rng.choice(customers)
        )
        _ticket(rows, timeline, requester, timeline.rng.choice(agents))
    return rows


def _user(
    rows: Rows, timeline: Timeline, person: Person, role: str, deregister: bool
) -> tuple[int, Person, datetime, datetime | None]:
    registered = timeline.years_ago(1.5, 6)
    deregistered = (
        timeline.between(registered + timedelta(days=200), timeline.as_of) if deregister else None
    )
    user_id = rows.add(
        "users",
        email=person.email,
        full_name=person.full_name,
        phone=person.phone,
        role=role,
        status="deregistered" if deregister else "active",
        registered_at=registered,
        deregistered_at=deregistered,
    )
    rows.count("users.deregistered" if deregister else f"users.active_{role}")
    return user_id, person, registered, deregistered


def _login(
    rows: Rows,
    people: PeopleFactory,
    timeline: Timeline,
    user_id: int,
    person: Person,
    registered: datetime,
) -> None:
    salt = f"{timeline.rng.getrandbits(64):016x}"
    digest = f"{timeline.rng.getrandbits(256):064x}"
    rows.add(
        "login_accounts",
        user_id=user_id,
        username=person.email,
        password_hash=f"pbkdf2_sha256$600000${salt}${digest}",
        last_login_at=timeline.between(registered, timeline.as_of),
        last_login_ip=people.ipv4(),
    )


def _ticket(
    rows: Rows,
    timeline: Timeline,
    requester: tuple[int, Person, datetime, datetime | None],
    agent: tuple[int, Person, datetime, datetime | None],
) -> None:
    requester_id, person, registered, deregistered = requester
    subject, thing = timeline.rng.choice(TOPICS)
    created = timeline.between(registered, deregistered or timeline.as_of)
    ticket_id = rows.add(
        "tickets",
        requester_id=requester_id,
        subject=subject,
        body=f"Hello, {thing} does not work as expected for our team. "
        f"Please call me at {person.phone}.\n\nBest regards,\n{person.full_name}",
        status="closed" if created < timeline.as_of - timedelta(days=30) else "open",
        created_at=created,
    )
    rows.count("tickets.of_deregistered" if deregistered else "tickets.of_active")
    agent_id, agent_person = agent[0], agent[1]
    moment = created
    for n in range(timeline.rng.randint(1, 3)):
        moment = timeline.shortly_after(moment, 5)
        if n % 2 == 0:
            author, body = (
                agent_id,
                (
                    f"Called {person.full_name} ({person.email}) about {thing}; "
                    f"{timeline.rng.choice(('sent a fix', 'asked for logs', 'escalated to R&D'))}."
                ),
            )
        else:
            author, body = (
                requester_id,
                (f"Thanks {agent_person.first_name}, that helped.\n-- {person.full_name}"),
            )
        rows.add("comments", ticket_id=ticket_id, author_id=author, body=body, created_at=moment)
        rows.count("comments.on_deregistered" if deregistered else "comments.on_active")
