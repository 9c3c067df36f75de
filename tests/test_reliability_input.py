"""Bad input. A policy file, however mangled, is refused with a validation
error (PolicyError) and nothing else: hypothesis mutates the real policy's
parsed tree and its text. A hostile identity (SQL fragments, wildcards,
unicode look-alikes, 10,000-character strings) never matches more than the
rows whose stored identity is the same identity: on SQLite, PostgreSQL and
MariaDB alike."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from retention import identity
from retention.errors import IdentityError, PolicyError
from retention.pipeline.order import check_order
from retention.policy import SecretRef
from retention.policy_loader import load_policy
from tests.demo_world import POLICY
from tests.test_identity import PEOPLE, people  # noqa: F401 - the fixture, on every dialect

pytestmark = pytest.mark.reliability

TREE = yaml.safe_load(POLICY.read_text())
TEXT = POLICY.read_text()
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def any_secret(_ref: SecretRef) -> str:
    return "sqlite:///unused-but-long-enough-as-a-hash-key"


def load(text: str | bytes, tmp: Path) -> None:
    """What a run does with a policy file before it connects to anything."""
    path = tmp / "policy.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        loaded = load_policy(path, resolve=any_secret)
        check_order(loaded.policy, loaded.path)
    except PolicyError:
        pass
    finally:
        # The loader sets the policy's region and zone for the process: put the defaults back.
        identity.set_default_region(identity.DEFAULT_REGION)


# --- the policy loader ------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "P5Y",
            "P0D",
            "PT1H",
            "P-1Y",
            "P999999Y",
            "immediately",
            "delete",
            "anonymise",
            "crm.contacts",
            "crm",
            "email",
            "Europe/Helsinki",
            "Mars/Base",
            "%",
            "' OR 1=1 --",
            "x" * 10_000,
            "\x00",
            "\ud800",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here]
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths(child, (*here, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found += paths(child, (*here, i))
    return found


ALL_PATHS = paths(TREE)[1:]


@st.composite
def mutated_trees(draw: st.DrawFn) -> Any:
    tree = copy.deepcopy(TREE)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(ALL_PATHS))
        parent = tree
        try:
            for part in path[:-1]:
                parent = parent[part]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced this part
    return tree


# Each load parses the whole policy (about 0.25 s here): 40 files per property.
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(tree=mutated_trees())
@example(tree={"version": "\ud800", "name": "x"})  # once made the dump, not the loader, fail
def test_a_mangled_policy_is_refused_with_a_validation_error_only(tmp_path_factory, tree) -> None:
    try:
        text = yaml.dump(tree, Dumper=DUMPER, allow_unicode=True, sort_keys=False)
    except UnicodeEncodeError:
        # A lone surrogate ("\ud800" above) cannot be written as UTF-8; a file
        # can still hold it as an escape, which the pure-Python emitter writes.
        text = yaml.dump(tree, Dumper=yaml.SafeDumper, allow_unicode=False, sort_keys=False)
    except yaml.YAMLError:
        return
    load(text, tmp_path_factory.mktemp("fuzz"))


@FUZZ
@given(
    cut=st.integers(min_value=0, max_value=len(TEXT)),
    length=st.integers(min_value=0, max_value=200),
    insert=st.one_of(
        st.text(max_size=40),
        st.sampled_from(
            [
                "\t",
                ": :",
                "- ",
                "&a ",
                "*a",
                "!!python/object:os.system ",
                "{",
                "[",
                "'",
                '"',
                "\n  ",
                "? ",
                "<<: *x",
            ]
        ),
    ),
)
def test_a_corrupted_policy_file_is_refused_with_a_validation_error_only(
    tmp_path_factory, cut: int, length: int, insert: str
) -> None:
    load(TEXT[:cut] + insert + TEXT[cut + length :], tmp_path_factory.mktemp("fuzz"))


@pytest.mark.parametrize(
    "text",
    [
        b"\xff\xfe\x00garbage",
        b"",
        b"- just\n- a list\n",
        b"!!python/object/apply:os.system ['true']\n",
        # A billion laughs: aliases nest, the loader must still answer quickly.
        b'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
        b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        b"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nversion: 1\nrules: *e\n",
    ],
    ids=["binary", "empty", "list", "python-tag", "billion-laughs"],
)
def test_hostile_policy_files_are_refused_with_a_validation_error(tmp_path, text: bytes) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(text)
    with pytest.raises(PolicyError):
        load_policy(path, resolve=any_secret)


# --- hostile identities -------------------------------------------------------------

LONG = "a" * 10_000
HOSTILE: dict[str, list[str]] = {
    "email": [
        "' OR '1'='1",
        "matti.virtanen@example.fi' OR '1'='1",
        "x@example.fi'; DELETE FROM people; --",
        "%@example.fi",
        "_atti.virtanen@example.fi",
        "matti.virtanen@example.f_",
        "matti.virtanen@%",
        "[m]atti.virtanen@example.fi",
        "mätti.virtanen@example.fi",  # a with diaeresis: MariaDB's collation took it for a
        "mаtti.virtanen@example.fi",  # Cyrillic a
        "ｍatti.virtanen@example.fi",  # fullwidth m
        "matti.virtanen@example.fi\u200b",  # zero-width space
        "matti.virtanen@exämple.fi",
        "MATTİ.VIRTANEN@EXAMPLE.FI",  # dotted capital I
        "matti.virtanen@example.fi\x00",  # NUL: PostgreSQL failed on it mid-query
        LONG + "@example.fi",
        "matti.virtanen@" + LONG + ".fi",
    ],
    "phone": [
        "0401234567 OR 1=1",
        "+358 40 123 456%",
        "+358 40 123 456_",
        "+358 40 123 45*",
        "040-123 4567'); --",
        "+358" + "4" * 10_000,
        "0" * 10_000,
        "+358 40 123 4567\u200b",
    ],
    "crm_contact_id": ["1 OR 1=1", "1'--", "%", "_", "*", LONG, "１"],
}


def allowed(kind: str, value: str) -> set[int]:
    """Rows whose stored identity is the same identity as `value`."""
    want = identity.normalise(kind, value)
    column = {"email": 1, "phone": 2}.get(kind)
    if column is None:
        return set()
    return {row[0] for row in PEOPLE if identity.normalise(kind, row[column]) == want}


def test_a_hostile_identity_never_widens_a_match(people) -> None:  # noqa: F811
    widened = []
    for kind, value in ((k, v) for k, vs in HOSTILE.items() for v in vs):
        try:
            found = people.find_subject({kind: [value]})
        except IdentityError:
            continue  # refused before any query
        rows = set(found.get("people", []))
        if not rows <= allowed(kind, value):
            widened.append(f"{kind} {value[:60]!r} matched rows {sorted(rows)}")
    assert not widened
