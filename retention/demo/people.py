"""Synthetic people and companies from Finland, Sweden and the UK (Faker).

Each locale has its own Faker seeded from the demo seed, so the output depends
only on the seed and on the order of calls.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

from faker import Faker

LOCALES = ("fi_FI", "sv_SE", "en_GB")
LANGUAGE = {"fi_FI": "fi", "sv_SE": "sv", "en_GB": "en"}
COUNTRY = {"fi_FI": "FI", "sv_SE": "SE", "en_GB": "GB"}
# Most of ID North's register is Finnish, then Swedish, then British.
LOCALE_WEIGHTS = (6, 3, 1)

JOB_TITLES = {
    "fi": [
        "Tietoturvapäällikkö",
        "IT-päällikkö",
        "Toimitusjohtaja",
        "Hankintapäällikkö",
        "Järjestelmäasiantuntija",
        "Talousjohtaja",
        "Kehityspäällikkö",
    ],
    "sv": [
        "IT-chef",
        "Säkerhetschef",
        "VD",
        "Inköpschef",
        "Systemförvaltare",
        "Ekonomichef",
        "Utvecklingschef",
    ],
    "en": [
        "Head of IT",
        "CISO",
        "Managing Director",
        "Procurement Manager",
        "Identity Architect",
        "Finance Director",
        "Service Owner",
    ],
}


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    email: str
    phone: str
    language: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class Company:
    name: str
    business_id: str
    street_address: str
    postal_code: str
    city: str
    country: str
    domain: str
    locale: str


def ascii_slug(text: str) -> str:
    """'Åsa Pöyhönen' -> 'asapoyhonen': email local parts and domains stay ASCII."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def finnish_business_id(rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(7)]
    while True:
        remainder = sum(d * w for d, w in zip(digits, (7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
        if remainder != 1:  # remainder 1 has no valid check digit
            break
        digits[-1] = (digits[-1] + 1) % 10
    check = 0 if remainder == 0 else 11 - remainder
    return "".join(map(str, digits)) + f"-{check}"


class PeopleFactory:
    """Makes people and companies with unique emails and business ids."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._fakers: dict[str, Faker] = {}
        for offset, locale in enumerate(LOCALES):
            fake = Faker(locale)
            fake.seed_instance(seed + offset)
            self._fakers[locale] = fake
        self._emails: set[str] = set()
        self._business_ids: set[str] = set()

    def pick_locale(self) -> str:
        return self.rng.choices(LOCALES, weights=LOCALE_WEIGHTS)[0]

    def company(self, locale: str) -> Company:
        fake = self._fakers[locale]
        name = fake.company()
        business_id = self._unique_business_id(locale)
        return Company(
            name=name,
            business_id=business_id,
            street_address=fake.street_address().replace("\n", ", "),
            postal_code=fake.postcode(),
            city=fake.city(),
            country=COUNTRY[locale],
            domain=f"{ascii_slug(name)[:20] or 'company'}.{COUNTRY[locale].lower()}".replace(
                ".gb", ".co.uk"
            ),
            locale=locale,
        )

    def person(self, locale: str, domain: str) -> Person:
        fake = self._fakers[locale]
        first, last = fake.first_name(), fake.last_name()
        return Person(
            first_name=first,
            last_name=last,
            email=self._unique_email(f"{ascii_slug(first)}.{ascii_slug(last)}", domain),
            phone=fake.phone_number(),
            language=LANGUAGE[locale],
        )

    def job_title(self, language: str) -> str:
        return self.rng.choice(JOB_TITLES[language])

    def sentence(self, locale: str) -> str:
        return self._fakers[locale].sentence(nb_words=10)

    def ipv4(self) -> str:
        return self._fakers["en_GB"].ipv4_public()

    def _unique_email(self, local: str, domain: str) -> str:
        candidate, n = f"{local}@{domain}", 1
        while candidate in self._emails:
            n += 1
            candidate = f"{local}{n}@{domain}"
        self._emails.add(candidate)
        return candidate

    def _unique_business_id(self, locale: str) -> str:
        while True:
            if locale == "fi_FI":
                value = finnish_business_id(self.rng)
            elif locale == "sv_SE":
                value = f"556{self.rng.randrange(1000):03d}-{self.rng.randrange(10000):04d}"
            else:
                value = f"{self.rng.randrange(10**8):08d}"
            if value not in self._business_ids:
                self._business_ids.add(value)
                return value
