"""`make audit`: known advisories in the locked dependencies (issue #20, docs/security.md).

- Python: every package of uv.lock (all workspace members and groups; the members themselves are
  not on PyPI and are left out) through `pip-audit` and PyPI's vulnerability data. Fails on any
  advisory that has a fixed version.
- Frontend: `npm audit --omit=dev --audit-level=high` (runtime dependencies, high and critical).

Accepted advisories and audits that cannot run are listed in `security/audit-exceptions.toml`,
each with a reason and an expiry date; an expired or incomplete entry fails the audit, and so
does an audit whose vulnerability service does not answer, unless listed there.

Usage: python -m chat_devtools.audit [--python-only | --npm-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
EXCEPTIONS_FILE = ROOT / "security" / "audit-exceptions.toml"
UV_VERSION = "0.13.8"  # scripts/setup.sh
NPM_LEVELS = ("high", "critical")
_GHSA = re.compile(r"GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}")


class ExceptionsError(Exception):
    """The exceptions file is unusable: an entry expired, or lacks its reason or expiry."""


@dataclass(frozen=True)
class Finding:
    audit: str  # "python" | "npm"
    package: str
    version: str
    ids: frozenset[str]  # the advisory's id and its aliases
    fixed_in: tuple[str, ...]
    summary: str = ""

    def label(self) -> str:
        fix = f" (fixed in {', '.join(self.fixed_in)})" if self.fixed_in else " (no fix yet)"
        return f"{self.audit}: {self.package} {self.version}: {', '.join(sorted(self.ids))}{fix}"


@dataclass
class Exceptions:
    advisories: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> entry
    unavailable: dict[str, dict[str, Any]] = field(default_factory=dict)  # audit -> entry

    def accepts(self, finding: Finding) -> dict[str, Any] | None:
        for advisory_id in finding.ids:
            entry = self.advisories.get(advisory_id)
            if entry is not None and entry.get("package", finding.package) == finding.package:
                return entry
        return None


def load_exceptions(text: str, today: dt.date) -> Exceptions:
    data = tomllib.loads(text)
    problems: list[str] = []
    result = Exceptions()
    for kind in ("advisory", "unavailable"):
        for entry in data.get(kind, []):
            key = entry.get("id") if kind == "advisory" else entry.get("audit")
            name = f"[[{kind}]] {key or '?'}"
            if not key:
                problems.append(f"{name}: needs {'id' if kind == 'advisory' else 'audit'}")
            if not str(entry.get("reason", "")).strip():
                problems.append(f"{name}: needs a reason")
            expires = entry.get("expires")
            if not isinstance(expires, dt.date):
                problems.append(f"{name}: needs expires = YYYY-MM-DD")
            elif expires < today:
                problems.append(f"{name}: expired on {expires.isoformat()}; fix it or renew it")
            if key:
                target = result.advisories if kind == "advisory" else result.unavailable
                target[str(key)] = entry
    unknown = set(data) - {"advisory", "unavailable"}
    if unknown:
        problems.append(f"unknown tables: {', '.join(sorted(unknown))}")
    if problems:
        raise ExceptionsError("; ".join(problems))
    return result


def python_findings(report: dict[str, Any]) -> tuple[list[Finding], list[str]]:
    """Findings and the packages pip-audit could not audit (from its JSON report)."""
    findings: list[Finding] = []
    skipped: list[str] = []
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            skipped.append(f"{dep['name']}: {dep['skip_reason']}")
            continue
        for vuln in dep.get("vulns", []):
            findings.append(
                Finding(
                    "python",
                    dep["name"],
                    dep.get("version", "?"),
                    frozenset([vuln["id"], *vuln.get("aliases", [])]),
                    tuple(vuln.get("fix_versions", [])),
                    str(vuln.get("description", ""))[:120],
                )
            )
    return findings, skipped


def npm_findings(report: dict[str, Any]) -> tuple[list[Finding], str | None]:
    """High and critical advisories of runtime dependencies, or why the audit did not run."""
    if "vulnerabilities" not in report:
        error = report.get("error") or {}
        why = report.get("message") or error.get("summary") or "no vulnerability data"
        return [], str(why)
    findings: list[Finding] = []
    for name, vuln in report["vulnerabilities"].items():
        for via in vuln.get("via", []):
            if not isinstance(via, dict) or via.get("severity") not in NPM_LEVELS:
                continue  # a string: reached through another package, listed on its own
            ids = {str(via.get("source", ""))}
            ids.update(_GHSA.findall(str(via.get("url", ""))))
            fix = vuln.get("fixAvailable")
            fixed = ("yes",) if fix is True else (str(fix.get("version")),) if fix else ()
            findings.append(
                Finding(
                    "npm",
                    name,
                    str(vuln.get("range", "?")),
                    frozenset(i for i in ids if i),
                    fixed,
                    str(via.get("title", "")),
                )
            )
    return findings, None


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def run_pip_audit() -> tuple[dict[str, Any] | None, str]:
    uv = ROOT / "var" / "tools" / f"uv-{UV_VERSION}" / "bin" / "uv"
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        export = _run(
            [
                str(uv if uv.exists() else "uv"),
                "export",
                "--frozen",
                "--all-packages",
                "--all-groups",
                "--no-emit-workspace",
                "--format",
                "requirements.txt",
                "--output-file",
                str(requirements),
            ],
            ROOT,
        )
        if export.returncode != 0:
            return None, f"uv export failed: {export.stderr.strip()[-500:]}"
        # Hashed pins from the lock, so pip is not needed to resolve anything.
        audit = _run(
            [
                str(Path(sys.executable).with_name("pip-audit")),
                "--requirement",
                str(requirements),
                "--require-hashes",
                "--disable-pip",
                "--format",
                "json",
                "--progress-spinner",
                "off",
            ],
            ROOT,
        )
    try:
        report: dict[str, Any] = json.loads(audit.stdout)
    except json.JSONDecodeError:
        return None, f"pip-audit failed ({audit.returncode}): {audit.stderr.strip()[-500:]}"
    return report, ""


def run_npm_audit() -> tuple[dict[str, Any] | None, str]:
    frontend = ROOT / "frontend"
    if not (frontend / "package-lock.json").exists():
        return {"vulnerabilities": {}}, ""
    audit = _run(["npm", "audit", "--omit=dev", "--audit-level=high", "--json"], frontend)
    try:
        report: dict[str, Any] = json.loads(audit.stdout)
    except json.JSONDecodeError:
        return None, f"npm audit failed ({audit.returncode}): {audit.stderr.strip()[-500:]}"
    return report, ""


def _oneline(text: object) -> str:
    return " ".join(str(text).split())


def judge(
    audit: str,
    findings: list[Finding],
    unavailable: str | None,
    exceptions: Exceptions,
    *,
    needs_fix: bool,
) -> list[str]:
    """Print the outcome of one audit; return its failures."""
    failures: list[str] = []
    if unavailable:
        waiver = exceptions.unavailable.get(audit)
        if waiver is None:
            failures.append(f"{audit}: not audited: {unavailable}")
        else:
            print(
                f"audit {audit}: NOT AUDITED ({unavailable}); accepted until "
                f"{waiver['expires']}: {_oneline(waiver['reason'])}"
            )
    for finding in findings:
        entry = exceptions.accepts(finding)
        if entry is not None:
            reason = _oneline(entry["reason"])
            print(f"audit accepted until {entry['expires']}: {finding.label()}: {reason}")
        elif needs_fix and not finding.fixed_in:
            print(f"audit warning (no fixed version yet): {finding.label()}")
        else:
            failures.append(finding.label())
    if not unavailable and not failures:
        print(f"audit {audit}: {len(findings)} advisories, none failing")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--python-only", action="store_true")
    only.add_argument("--npm-only", action="store_true")
    args = parser.parse_args(argv)
    try:
        exceptions = load_exceptions(EXCEPTIONS_FILE.read_text(), dt.date.today())
    except (ExceptionsError, tomllib.TOMLDecodeError) as exc:
        print(f"audit: {EXCEPTIONS_FILE.relative_to(ROOT)}: {exc}", file=sys.stderr)
        return 1
    failures: list[str] = []
    if not args.npm_only:
        report, error = run_pip_audit()
        if report is None:
            failures += judge("python", [], error, exceptions, needs_fix=True)
        else:
            found, skipped = python_findings(report)
            why = None
            if skipped:
                why = f"{len(skipped)} of {len(report.get('dependencies', []))} packages: "
                why += skipped[0]
            failures += judge("python", found, why, exceptions, needs_fix=True)
    if not args.python_only:
        report, error = run_npm_audit()
        found, why = npm_findings(report) if report is not None else ([], error)
        failures += judge("npm", found, why, exceptions, needs_fix=False)
    for failure in failures:
        print(f"audit FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
