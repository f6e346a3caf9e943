"""`make audit`'s judgement (chat_devtools.audit): what fails, what an exception accepts."""

import datetime as dt

import pytest
from chat_devtools.audit import (
    EXCEPTIONS_FILE,
    Exceptions,
    ExceptionsError,
    judge,
    load_exceptions,
    npm_findings,
    python_findings,
)

pytestmark = pytest.mark.unit
TODAY = dt.date(2026, 12, 7)

PIP_REPORT = {
    "dependencies": [
        {"name": "ok", "version": "1.0", "vulns": []},
        {
            "name": "jinja2",
            "version": "3.1.2",
            "vulns": [
                {"id": "PYSEC-1", "aliases": ["GHSA-aaaa-bbbb-cccc"], "fix_versions": ["3.1.3"]},
                {"id": "PYSEC-2", "aliases": [], "fix_versions": []},
            ],
        },
    ],
    "fixes": [],
}
NPM_REPORT = {
    "vulnerabilities": {
        "lib": {
            "range": "<2.0.0",
            "fixAvailable": True,
            "via": [
                {
                    "source": 1099,
                    "severity": "high",
                    "url": "https://github.com/advisories/GHSA-f8q6-p94x-37v3",
                },
                {"source": 1100, "severity": "moderate", "url": ""},
            ],
        },
        "wrapper": {"range": "*", "fixAvailable": False, "via": ["lib"]},
    }
}


def exceptions(text: str) -> Exceptions:
    return load_exceptions(text, TODAY)


def test_the_repositorys_exceptions_file_is_valid_today() -> None:
    load_exceptions(EXCEPTIONS_FILE.read_text(), dt.date.today())


def test_a_python_advisory_with_a_fix_fails_one_without_only_warns() -> None:
    found, skipped = python_findings(PIP_REPORT)
    assert skipped == []
    failures = judge("python", found, None, Exceptions(), needs_fix=True)
    assert len(failures) == 1
    assert "jinja2 3.1.2" in failures[0]
    assert "fixed in 3.1.3" in failures[0]


def test_an_exception_accepts_an_advisory_by_any_alias() -> None:
    found, _ = python_findings(PIP_REPORT)
    accepted = exceptions(
        '[[advisory]]\nid = "GHSA-aaaa-bbbb-cccc"\npackage = "jinja2"\n'
        'reason = "the sandbox is not used"\nexpires = 2027-01-01\n'
    )
    assert judge("python", found, None, accepted, needs_fix=True) == []
    other_package = exceptions(
        '[[advisory]]\nid = "PYSEC-1"\npackage = "other"\nreason = "r"\nexpires = 2027-01-01\n'
    )
    assert len(judge("python", found, None, other_package, needs_fix=True)) == 1


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('id = "X"\nreason = "r"\nexpires = 2026-12-06', "expired on 2026-12-06"),
        ('id = "X"\nexpires = 2027-01-01', "needs a reason"),
        ('id = "X"\nreason = "r"', "needs expires"),
        ('id = "X"\nreason = "r"\nexpires = "soon"', "needs expires"),
        ('reason = "r"\nexpires = 2027-01-01', "needs id"),
    ],
)
def test_expired_or_incomplete_exceptions_fail(entry: str, message: str) -> None:
    with pytest.raises(ExceptionsError, match=message):
        exceptions(f"[[advisory]]\n{entry}\n")


def test_an_audit_that_cannot_run_fails_unless_listed() -> None:
    found, skipped = python_findings(
        {"dependencies": [{"name": "a", "skip_reason": "Dependency not found on PyPI"}]}
    )
    assert found == []
    assert skipped == ["a: Dependency not found on PyPI"]
    assert judge("python", [], "not found", Exceptions(), needs_fix=True) == [
        "python: not audited: not found"
    ]
    waived = exceptions(
        '[[unavailable]]\naudit = "python"\nreason = "mirror"\nexpires = 2027-01-01\n'
    )
    assert judge("python", [], "not found", waived, needs_fix=True) == []
    with pytest.raises(ExceptionsError, match="expired"):
        exceptions('[[unavailable]]\naudit = "npm"\nreason = "mirror"\nexpires = 2026-01-01\n')


def test_npm_high_advisories_fail_and_can_be_accepted() -> None:
    found, why = npm_findings(NPM_REPORT)
    assert why is None
    assert [(f.package, sorted(f.ids)) for f in found] == [("lib", ["1099", "GHSA-f8q6-p94x-37v3"])]
    assert len(judge("npm", found, None, Exceptions(), needs_fix=False)) == 1
    accepted = exceptions(
        '[[advisory]]\nid = "GHSA-f8q6-p94x-37v3"\nreason = "r"\nexpires = 2027-01-01\n'
    )
    assert judge("npm", found, None, accepted, needs_fix=False) == []


def test_an_npm_registry_without_audit_is_unavailable() -> None:
    found, why = npm_findings({"message": "405 Method Not Allowed", "statusCode": 405})
    assert found == []
    assert why == "405 Method Not Allowed"
