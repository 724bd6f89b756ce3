"""The counts of docs/reliability.md, computed from the test tables themselves.

``python -m tests.reliability_tables`` prints the Markdown block that sits between the
``<!-- counts -->`` markers of docs/reliability.md; tests/unit/test_reliability_doc.py fails
when the document and the tables disagree, so the document cannot drift from the tests.
"""

from __future__ import annotations

from tests.bad_inputs import ACCEPTED, TABLES

START, END = "<!-- counts:start -->", "<!-- counts:end -->"


def rows() -> list[tuple[str, str, int, str]]:
    """(entry point, what was tried, how many cases, what must happen)."""
    from tests.faults.test_notifier_faults import SCENARIOS
    from tests.faults.test_storage_faults import FAULTS
    from tests.unit.evaluation.test_labels_hardening import CSV_ROWS, JSON_ROWS
    from tests.unit.test_bad_events import LENIENT_EMPTY
    from tests.unit.test_cli_bad_arguments import CLI_CASES

    refused = "refused: one typed error with the reason, logged; the invocation fails (retries, then its DLQ)"
    table = []
    for name, events in sorted(TABLES.items()):
        lenient = sum(1 for function, _ in LENIENT_EMPTY if function == name)
        outcome = refused + (
            f"; {lenient} of them read as 'no archive object', nothing done" if lenient else ""
        )
        table.append((name.replace("_", "-"), "malformed events", len(events), outcome))
    table += [
        (
            "labels",
            "hostile but well-formed S3 notifications",
            len(ACCEPTED["labels"]),
            "nothing outside labels/ read; a key escaping the store fails alone",
        ),
        (
            "digest",
            "any event (its time unreadable or absent)",
            len(ACCEPTED["digest"]),
            "window ends on the hour, at now when the event says nothing usable",
        ),
        (
            "labels (file content)",
            "bad CSV rows among good ones",
            len(CSV_ROWS),
            "a row-level reject with its reason; every good row kept",
        ),
        (
            "labels (file content)",
            "bad JSON lines among good ones",
            len(JSON_ROWS),
            "a row-level reject with its reason; every good line kept",
        ),
        (
            "labels (file content)",
            "gzip bomb, truncated gzip, oversized, too many rows",
            4,
            "rejected whole with the reason; memory bounded; `ingest-labels` exits 2",
        ),
        (
            "propensity (CLI)",
            "bad arguments, one or more per command",
            len(CLI_CASES),
            "non-zero exit, a clear message, no traceback",
        ),
        (
            "notify-pagerduty",
            "provider faults: 5xx, timeouts, 429 in and past the deadline, 400",
            len(SCENARIOS),
            "delivered exactly once, or the invocation raises (-> alert DLQ); no body logged",
        ),
        (
            "labels (S3)",
            "S3 throttling and 5xx on the label read (Stubber)",
            len(FAULTS),
            "the invocation fails, nothing written; the retry ingests once",
        ),
        (
            "labels (S3)",
            "a partial write (rows stored, record not)",
            len(FAULTS),
            "the retry rewrites the same keys and records once",
        ),
        (
            "registry (S3)",
            "throttling and 5xx on create-only writes and on reads (Stubber)",
            2 * len(FAULTS),
            "raised, never taken for 'exists' or 'absent'; the retry writes once",
        ),
        ("labels", "the same file ingested by 4 processes at once", 1, "recorded once, 3 duplicates"),
        (
            "labels (handler, moto S3)",
            "S3 failing on one file of a batch, then recovering",
            1,
            "the invocation fails after the other file went in; the retry ingests it, the other a duplicate",
        ),
    ]
    return table


def markdown() -> str:
    lines = ["| Entry point | Tried | Cases | What must happen (and does) |", "| --- | --- | ---: | --- |"]
    lines += [f"| {a} | {b} | {n} | {c} |" for a, b, n, c in rows()]
    total = sum(n for _, _, n, _ in rows())
    lines.append(f"| **all** | | **{total}** | |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
