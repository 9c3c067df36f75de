"""Table definitions of the two demo databases (SQLAlchemy Core).

Some links are declared foreign keys and some are plain integer columns, as in
real CRMs; the policy file describes the undeclared ones as relations. Every
link column is indexed, as a production schema's are: without one, SQLite
checks a foreign key on each parent row deleted, and answers each related-row
test of a plan, by scanning the whole child table (at demo scale 100 that
was 6 of the sweep's 15 seconds).
Timestamps are naive wall-clock time in Europe/Helsinki, the policy's
settings.timezone (see retention.timezone).
"""

from __future__ import annotations

import sqlalchemy as sa

crm = sa.MetaData()
ticketing = sa.MetaData()

companies = sa.Table(
    "companies",
    crm,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("business_id", sa.String(20), nullable=False, unique=True),
    sa.Column("street_address", sa.String(200)),
    sa.Column("postal_code", sa.String(20)),
    sa.Column("city", sa.String(100)),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("relationship_status", sa.String(20), nullable=False),
    sa.Column("cooperation_ended_at", sa.DateTime),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

contacts = sa.Table(
    "contacts",
    crm,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("company_id", sa.Integer, sa.ForeignKey("companies.id"), nullable=False, index=True),
    sa.Column("first_name", sa.String(100)),
    sa.Column("last_name", sa.String(100)),
    sa.Column("email", sa.String(200)),
    sa.Column("phone", sa.String(40)),
    sa.Column("job_title", sa.String(100)),
    sa.Column("interests", sa.String(400)),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("relationship_status", sa.String(20), nullable=False),
    sa.Column("cooperation_ended_at", sa.DateTime),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

consents = sa.Table(
    "consents",
    crm,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("contact_id", sa.Integer, sa.ForeignKey("contacts.id"), nullable=False, index=True),
    sa.Column("purpose", sa.String(30), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("source", sa.String(60)),
    sa.Column("changed_at", sa.DateTime, nullable=False),
)

newsletter_subscriptions = sa.Table(
    "newsletter_subscriptions",
    crm,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("contact_id", sa.Integer, sa.ForeignKey("contacts.id"), nullable=False, index=True),
    sa.Column("newsletter", sa.String(100), nullable=False),
    sa.Column("subscribed_at", sa.DateTime, nullable=False),
    sa.Column("unsubscribed_at", sa.DateTime),
)

# No declared foreign key: the marketing tool writes reactions in bulk.
newsletter_reactions = sa.Table(
    "newsletter_reactions",
    crm,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subscription_id", sa.Integer, nullable=False, index=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("link_url", sa.String(300)),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
)

event_registrations = sa.Table(
    "event_registrations",
    crm,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("contact_id", sa.Integer, nullable=False, index=True),
    sa.Column("event_name", sa.String(200), nullable=False),
    sa.Column("event_date", sa.Date, nullable=False),
    sa.Column("attended", sa.Boolean, nullable=False),
    sa.Column("registered_at", sa.DateTime, nullable=False),
)

purchases = sa.Table(
    "purchases",
    crm,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("company_id", sa.Integer, sa.ForeignKey("companies.id"), nullable=False, index=True),
    sa.Column("contact_id", sa.Integer, index=True),
    sa.Column("product", sa.String(100), nullable=False),
    sa.Column("amount_cents", sa.Integer, nullable=False),
    sa.Column("purchased_at", sa.DateTime, nullable=False),
)

invoices = sa.Table(
    "invoices",
    crm,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("purchase_id", sa.Integer, sa.ForeignKey("purchases.id"), nullable=False, index=True),
    sa.Column("contact_id", sa.Integer, index=True),
    sa.Column("invoice_number", sa.String(20), nullable=False, unique=True),
    sa.Column("billing_name", sa.String(200)),
    sa.Column("billing_email", sa.String(200)),
    sa.Column("amount_cents", sa.Integer, nullable=False),
    sa.Column("issued_at", sa.DateTime, nullable=False),
    sa.Column("fiscal_year_end", sa.Date, nullable=False),
)

contractor_reports = sa.Table(
    "contractor_reports",
    crm,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("company_id", sa.Integer, sa.ForeignKey("companies.id"), nullable=False, index=True),
    sa.Column("contact_id", sa.Integer, index=True),
    sa.Column("contract_ref", sa.String(40), nullable=False),
    sa.Column("documents", sa.String(400), nullable=False),
    sa.Column("work_started_at", sa.DateTime, nullable=False),
    sa.Column("work_ended_at", sa.DateTime),
)

web_visits = sa.Table(
    "web_visits",
    crm,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cookie_id", sa.String(40), nullable=False),
    sa.Column("ip_address", sa.String(45), nullable=False),
    sa.Column("user_agent", sa.String(200)),
    sa.Column("path", sa.String(200), nullable=False),
    sa.Column("contact_id", sa.Integer, index=True),
    sa.Column("visited_at", sa.DateTime, nullable=False),
)

users = sa.Table(
    "users",
    ticketing,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(200), nullable=False, unique=True),
    sa.Column("full_name", sa.String(200)),
    sa.Column("phone", sa.String(40)),
    sa.Column("role", sa.String(10), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("registered_at", sa.DateTime, nullable=False),
    sa.Column("deregistered_at", sa.DateTime),
)

login_accounts = sa.Table(
    "login_accounts",
    ticketing,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("username", sa.String(200), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("last_login_at", sa.DateTime),
    sa.Column("last_login_ip", sa.String(45)),
)

tickets = sa.Table(
    "tickets",
    ticketing,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("requester_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# author_id is deliberately not a foreign key: agents and customers both write comments.
comments = sa.Table(
    "comments",
    ticketing,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False, index=True),
    sa.Column("author_id", sa.Integer, nullable=False, index=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
