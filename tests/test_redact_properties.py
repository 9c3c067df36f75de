"""Properties of redact_text over generated people and generated text."""

from __future__ import annotations

import re
from functools import cache

from faker import Faker
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from retention.anonymise import redact_text

R = "[redacted]"
LOCALES = ("fi_FI", "sv_SE", "en_GB")
# Ordinary words, none a name: they stand for the text around a name that must stay.
VOCABULARY = [
    "asiakas",
    "soitti",
    "tiistaina",
    "sopimus",
    "lasku",
    "tuki",
    "kanssa",
    "meeting",
    "about",
    "invoice",
    "called",
    "renewal",
    "och",
    "mötet",
    "fakturan",
    "kunden",
    "ringde",
    "support",
    "ticket",
    "closed",
]
PUNCTUATION = list(" .,;:!?()-\n\t\"'")


@cache
def population() -> list[dict[str, str]]:
    """People from every locale, made once with a fixed seed: drawing from
    them keeps Faker's own randomness out of hypothesis's strategies."""
    found = []
    for locale in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(2578204)
        found += [
            {
                "first": fake.first_name(),
                "last": fake.last_name(),
                "email": fake.email(),
                "phone": fake.phone_number(),
            }
            for _ in range(150)
        ]
    return found


def people() -> st.SearchStrategy[dict[str, str]]:
    return st.sampled_from(population())


def forms(person: dict[str, str]) -> list[str]:
    """The ways the person appears in the text."""
    first, last = person["first"], person["last"]
    written = [
        f"{first} {last}",
        f"{last}, {first}",
        f"{last} {first}",
        f"{first[0]}. {last}",
        f"{first} {last}".upper(),
        person["email"],
        person["email"].upper(),
        person["phone"],
        re.sub(r"[\s\-]", "", person["phone"]),
    ]
    written += [part for part in (first, last) if len(part) >= 3]
    return written


# At least one word: identifiers side by side with only spaces or commas between
# them read as one name and become one replacement, by design.
filler = st.tuples(
    st.lists(st.sampled_from(PUNCTUATION), max_size=3),
    st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=3),
    st.lists(st.sampled_from(PUNCTUATION), max_size=3),
).map(lambda parts: " ".join(parts[0] + parts[1] + parts[2]))


def identifiers(person: dict[str, str]) -> list[str]:
    return [f"{person['first']} {person['last']}", person["email"], person["phone"]]


def name_parts(person: dict[str, str]) -> list[str]:
    words = re.findall(r"[^\W\d_]+", f"{person['first']} {person['last']}")
    return [w for w in words if len(w) >= 3]


def leaks(result: str, person: dict[str, str]) -> list[str]:
    folded = result.casefold()
    found = [
        p
        for p in name_parts(person)
        if re.search(rf"(?<!\w){re.escape(p.casefold())}(?!\w)", folded)
    ]
    if person["email"].casefold() in folded:
        found.append(person["email"])
    phone_digits = re.sub(r"\D", "", person["phone"])[-7:]
    if phone_digits in re.sub(r"\D", "", result):
        found.append(person["phone"])
    return found


def clashes(words: list[str], person: dict[str, str]) -> bool:
    stems = [w.casefold()[:-2] if len(w) >= 5 else w.casefold() for w in name_parts(person)]
    stems += [
        w.casefold() for w in re.findall(r"[^\W\d_]+", person["first"] + " " + person["last"])
    ]
    return any(word.casefold().startswith(stem) for word in words for stem in stems)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(person=people(), data=st.data())
def test_no_identifier_survives_and_the_text_around_is_kept(person, data) -> None:
    written = data.draw(st.lists(st.sampled_from(forms(person)), min_size=1, max_size=5))
    fillers = data.draw(st.lists(filler, min_size=len(written) + 1, max_size=len(written) + 1))
    assume(not clashes(" ".join(fillers).split(), person))
    text = fillers[0] + "".join(f" {w} {f}" for w, f in zip(written, fillers[1:], strict=True))

    result = redact_text(text, identifiers(person))

    assert result is not None
    assert leaks(result, person) == []
    expected = fillers[0] + "".join(f" {R} {f}" for f in fillers[1:])
    assert result == expected


@settings(max_examples=200, deadline=None)
@given(
    person=people(),
    around=st.lists(
        st.text(st.characters(exclude_categories=("Nd", "Cs")), max_size=20),
        min_size=2,
        max_size=4,
    ),
)
def test_no_identifier_survives_in_arbitrary_text(person, around) -> None:
    text = f" {person['first']} {person['last']} ".join(around) + f" {person['email']} "
    text += f"{around[0]} {person['phone']} "

    result = redact_text(text, identifiers(person))

    assert result is not None
    assert leaks(result, person) == []


@settings(max_examples=200, deadline=None)
@given(person=people(), text=st.text())
def test_redacting_twice_is_redacting_once(person, text) -> None:
    once = redact_text(f"{text} {person['last']}, {person['first']} {text}", identifiers(person))
    assert redact_text(once, identifiers(person)) == once


@given(text=st.text(), empties=st.lists(st.sampled_from(["", " ", None, "\t\n", "x"])))
def test_empty_identifiers_change_nothing(text, empties) -> None:
    assert redact_text(text, empties) == text
