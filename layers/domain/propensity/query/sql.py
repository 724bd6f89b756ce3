"""Every query the monitoring jobs run, written once in DuckDB's dialect.

The DuckDB engine runs these texts as they are; the Athena engine transpiles them to Trino
with sqlglot (tests parse every generated text in the Trino dialect). They are built from
the constants they depend on (feature lists, score edges, segment edges, the uncertainty
margin), so a constant changes in one place. Values reach a text only through ``literal``.

Each query reads the archive once, and drift's one query counts every feature in one
aggregate (``GROUPING SETS``) rather than one scan per feature, because Athena bills every
scan of the JSON archive in full.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from propensity.constants import API_VERSIONS, EVENT_SCHEMA_VERSION, UNCERTAIN_MARGIN
from propensity.features.schemas import SPECS
from propensity.monitoring.reference import SCORE_EDGES
from propensity.query.schema import OUTCOMES_TABLE, PARTITION_FORMAT, PREDICTIONS_TABLE, feature_types
from propensity.segments import AGE_EDGES, BALANCE_EDGES, SEGMENT_FIELDS, SEGMENTS

# Evaluation's score histogram: fine enough that the AUC from it is within a stated bound of
# the exact one (evaluation.histogram), coarse enough to stay a small result.
FINE_SCORE_BINS = 1000
SEGMENT_SCORE_BINS = 100
AGE_LABELS = ("<25", "25-34", "35-44", "45-54", "55-64", "65+")
BALANCE_LABELS = ("negative", "0-999", "1000-4999", "5000+")
UNKNOWN_SEGMENT = "unknown"


@dataclass(frozen=True)
class Query:
    """One SQL text and the archive hours it reads (``dt`` values), which the engines prune by."""

    name: str
    sql: str
    hours: tuple[str, ...] = ()
    reads_outcomes: bool = False


def literal(value: str | float | int) -> str:
    """A SQL literal: strings single-quoted with quotes doubled; numbers as they print."""
    if isinstance(value, bool):
        raise TypeError("booleans are not literals here")
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    return "'" + str(value).replace("'", "''") + "'"


def dt_of(hour: datetime) -> str:
    """The partition value of an archive hour."""
    return hour.strftime(PARTITION_FORMAT)


def _in_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(literal(v) for v in values) + ")"


def _valid_event(alias: str = "") -> str:
    """A row that parsed as an event of a known API version (malformed lines arrive as NULL rows)."""
    a = f"{alias}." if alias else ""
    return (
        f"{a}prediction_id IS NOT NULL AND {a}probability IS NOT NULL AND {a}threshold IS NOT NULL "
        f"AND {a}api_version IN {_in_list(API_VERSIONS)} AND {a}model_version IS NOT NULL "
        f"AND COALESCE({a}schema_version, 1) <= {EVENT_SCHEMA_VERSION}"
    )


def _not_synthetic(alias: str = "") -> str:
    a = f"{alias}." if alias else ""
    return f"NOT COALESCE({a}synthetic, FALSE)"


def score_bin(column: str = "probability") -> str:
    """The reference's score bin (``searchsorted(SCORE_EDGES, p, "left")``: edges below p)."""
    return "(" + " + ".join(f"CASE WHEN {column} > {e!r} THEN 1 ELSE 0 END" for e in SCORE_EDGES) + ")"


def _margin(p: str = "probability", t: str = "threshold") -> str:
    # model.confidence.margin: distance from the threshold as a share of the room on that side.
    return f"CASE WHEN {p} >= {t} THEN ({p} - {t}) / (1 - {t}) ELSE ({t} - {p}) / {t} END"


_PREDICTION_KEYS = ("threshold", "decision", "confidence", "score_bin", "uncertain", "warnings_text")


_KINDS = ("bad", "synthetic", "event")  # drift's row kinds, by their code in the group key
_OTHER_API = len(API_VERSIONS)  # the API code of a bad row (its api_version may be anything)


def feature_slots() -> list[dict[str, str]]:
    """Columns drift counts, each holding one feature per API version (``{api: feature}``).

    A row only has its own API version's features, so counting every feature name on every
    row would hash a NULL for the other version's half. Each slot pairs the i-th numeric (or
    the i-th non-numeric) feature of each version: half the counting work, the same counts.
    """
    pools: dict[str, dict[str, list[str]]] = {"numeric": {}, "text": {}}
    for api, spec in SPECS.items():
        for feature in spec.features:
            pool = "numeric" if feature.kind == "numeric" else "text"
            pools[pool].setdefault(api, []).append(feature.name)
    slots: list[dict[str, str]] = []
    for names in pools.values():
        width = max(len(v) for v in names.values())
        slots += [{api: v[i] for api, v in names.items() if i < len(v)} for i in range(width)]
    return slots


def _slot_column(slot: dict[str, str]) -> str:
    types = feature_types()
    numeric = all(types[name] == "double" for name in slot.values())
    parts = " ".join(
        f"WHEN {literal(api)} THEN "
        + (
            f"features.{_quoted(name)}"
            if numeric or types[name] == "string"
            else f"CAST(features.{_quoted(name)} AS VARCHAR)"
        )
        for api, name in slot.items()
    )
    return f"CASE api_version {parts} END"


def _slot_name(slot: dict[str, str]) -> str:
    """The slot's feature name for the row's API code (a bad row's features are not counted,
    but its rows must still name a feature, or they would read as prediction rows)."""
    names = [slot.get(api) for api in API_VERSIONS]
    fallback = next(n for n in names if n is not None)
    cases = " ".join(f"WHEN {i} THEN {literal(n)}" for i, n in enumerate(names) if n is not None)
    return f"CASE grp % 4 {cases} ELSE {literal(fallback)} END"


def drift_counts(hours: Sequence[datetime]) -> Query:
    """Everything drift counts, per hour, kind of row and model, in one scan and one aggregate.

    ``kind`` is ``event``, ``synthetic`` (probe and hook traffic, counted on its own) or ``bad``
    (a line that is not an event: malformed JSON, a control message, a missing field).

    One ``GROUPING SETS`` aggregate: the prediction set (``feature`` NULL) counts events by
    decision, band, score bin, uncertainty and warnings; one set per feature slot
    (``feature_slots``: a v1 and a v2 feature of the same type) counts its raw values
    (``value`` as text: numbers, ``true``/``false``, categories; NULL: missing), named by the
    row's API version. The hour, kind and API version travel as one integer key (decoded on
    the result rows only), since every set hashes its keys on every row. The library bins
    raw values with each model version's own reference edges, so one query serves every
    model version.
    """
    dts = tuple(dt_of(h) for h in hours)
    slots = feature_slots()
    columns = [f"slot_{i}" for i in range(len(slots))]
    feature = " ".join(
        f"WHEN GROUPING({c}) = 0 THEN {_slot_name(slot)}" for c, slot in zip(columns, slots, strict=True)
    )
    value = " ".join(f"WHEN GROUPING({c}) = 0 THEN CAST({c} AS VARCHAR)" for c in columns)
    kind_code = f"CASE WHEN NOT ({_valid_event()}) THEN 0 WHEN COALESCE(synthetic, FALSE) THEN 1 ELSE 2 END"
    api_code = (
        f"CASE WHEN NOT ({_valid_event()}) THEN {_OTHER_API} "
        + " ".join(f"WHEN api_version = {literal(a)} THEN {i}" for i, a in enumerate(API_VERSIONS))
        + f" ELSE {_OTHER_API} END"
    )
    # group = yyyymmddhh * 16 + kind * 4 + api (each code below 4)
    group = f"CAST(REPLACE(dt, '/', '') AS BIGINT) * 16 + ({kind_code}) * 4 + ({api_code})"
    hour = "CAST(CAST(FLOOR(grp / 16) AS BIGINT) AS VARCHAR)"
    dt = (
        f"SUBSTR({hour}, 1, 4) || '/' || SUBSTR({hour}, 5, 2) || '/' || SUBSTR({hour}, 7, 2) || '/' "
        f"|| SUBSTR({hour}, 9, 2)"
    )
    kind = (
        "CASE CAST(FLOOR(grp / 4) AS BIGINT) % 4 "
        + " ".join(f"WHEN {i} THEN {literal(k)}" for i, k in enumerate(_KINDS))
        + " END"
    )
    api = (
        "CASE grp % 4 " + " ".join(f"WHEN {i} THEN {literal(a)}" for i, a in enumerate(API_VERSIONS)) + " END"
    )
    keys = "grp, model_version"
    sets = ", ".join([f"({keys}, {', '.join(_PREDICTION_KEYS)})", *(f"({keys}, {c})" for c in columns)])
    sql = f"""
WITH rows AS (
  SELECT
    {group} AS grp,
    CASE WHEN {_valid_event()} THEN model_version END AS model_version,
    threshold,
    decision,
    confidence,
    {score_bin()} AS score_bin,
    {_margin()} < {UNCERTAIN_MARGIN!r} AS uncertain,
    ARRAY_TO_STRING(warnings, CHR(10)) AS warnings_text,
    probability,
    {", ".join(f"{_slot_column(slot)} AS {c}" for c, slot in zip(columns, slots, strict=True))}
  FROM {PREDICTIONS_TABLE}
  WHERE dt IN {_in_list(dts)}
),
counted AS (
  SELECT
    {keys},
    {", ".join(_PREDICTION_KEYS)},
    CASE {feature} END AS feature,
    CASE {value} END AS value,
    COUNT(*) AS events,
    SUM(probability) AS probability_sum
  FROM rows
  GROUP BY GROUPING SETS ({sets})
)
SELECT {dt} AS dt, {kind} AS kind, {api} AS api_version, model_version,
       {", ".join(_PREDICTION_KEYS)}, feature, value, events, probability_sum
FROM counted
"""
    return Query("drift_counts", sql.strip(), dts)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Evaluation --------------------------------------------------------------------------------


def _edges_case(column: str, edges: Sequence[int], labels: Sequence[str]) -> str:
    # segments._label_edges: searchsorted(edges, value, "right"), i.e. value >= edge moves up.
    parts = [f"WHEN {column} IS NULL THEN {literal(UNKNOWN_SEGMENT)}"]
    parts += [
        f"WHEN {column} < {edge} THEN {literal(label)}" for edge, label in zip(edges, labels, strict=False)
    ]
    return "CASE " + " ".join(parts) + f" ELSE {literal(labels[-1])} END"


def _segment_field(family: str) -> str:
    """The row's field of a segment family, by API version (v1 and v2 name them differently)."""
    cases = " ".join(
        f'WHEN {literal(api)} THEN features."{SEGMENT_FIELDS[api][family]}"' for api in API_VERSIONS
    )
    return f"CASE api_version {cases} END"


def _segment_label(family: str) -> str:
    field = _segment_field(family)
    if family == "age_group":
        return _edges_case(field, AGE_EDGES, AGE_LABELS)
    if family == "balance_bracket":
        return _edges_case(field, BALANCE_EDGES, BALANCE_LABELS)
    return f"COALESCE(CAST({field} AS VARCHAR), {literal(UNKNOWN_SEGMENT)})"


# The outcome precedence (``labels.outcomes``): per prediction id the outcome row that sorts
# first by ``outcome_date DESC, ingested_at DESC, file_sha256 DESC, source_row DESC`` (NULLs
# last, both engines' default). The lookup takes it with a hash aggregate (``ARG_MAX``) rather
# than a ``ROW_NUMBER`` window: the window holds every outcome row with its 64-character file
# hash and spills at 5M outcomes; the aggregate keeps one small state per id (at 10M events
# the cube went from 100 to 75 s, same result). To pick exactly the row the window picks:
# the key is total (a NULL field sorts below every value, as NULLS LAST under DESC), and the
# outcome is carried as a code that is never NULL (``ARG_MAX`` skips rows whose value is NULL,
# which would let an earlier outcome win over a later row whose outcome is NULL).
_PRECEDENCE = (("outcome_date", "''"), ("ingested_at", "''"), ("file_sha256", "''"), ("source_row", "0"))
_OUTCOME_CODES = (("yes", 1), ("no", 0))
_OTHER_OUTCOME, _NO_OUTCOME = -1, -2


def _outcome_precedence() -> str:
    fields = ", ".join(f"{c} IS NOT NULL, COALESCE({c}, {empty})" for c, empty in _PRECEDENCE)
    return f"ROW({fields})"


def _outcome_code(column: str = "outcome") -> str:
    known = " ".join(f"WHEN {column} = {literal(v)} THEN {code}" for v, code in _OUTCOME_CODES)
    return f"CASE WHEN {column} IS NULL THEN {_NO_OUTCOME} {known} ELSE {_OTHER_OUTCOME} END"


def _outcome_decoded(code: str) -> str:
    """Back to text: 'yes', 'no', NULL, or a non-NULL text that is neither (read as no label)."""
    known = " ".join(f"WHEN {c} THEN {literal(v)}" for v, c in _OUTCOME_CODES)
    return f"CASE {code} {known} WHEN {_OTHER_OUTCOME} THEN 'unrecognised' END"


def outcome_by_id(table: str = OUTCOMES_TABLE) -> str:
    """Per prediction id its outcome by the precedence above: ``prediction_id, outcome`` rows.

    ``outcome`` is 'yes', 'no', NULL (the winning row has none), or 'unrecognised' for any
    other text: the cube reads only which of those it is.
    """
    return f"""SELECT prediction_id, {_outcome_decoded("code")} AS outcome
  FROM (
    SELECT prediction_id, ARG_MAX({_outcome_code()}, {_outcome_precedence()}) AS code
    FROM {table}
    WHERE prediction_id IS NOT NULL
    GROUP BY prediction_id
  ) AS latest"""


def evaluation_cube(
    hours: Sequence[datetime], start: datetime, end: datetime, *, customer_outcomes: bool = True
) -> Query:
    """One window's predictions joined with their outcomes, counted into a small cube.

    Steps, all in the engine: keep real events timestamped in ``[start, end)`` (read from the
    hours that can hold them), one per prediction id (Firehose delivers at least once; the
    copy kept is the first by timestamp and request id); resolve each prediction id's
    outcomes by the documented precedence (``labels.outcomes``); attribute each
    customer-reference outcome to that customer's latest prediction made on or before the
    outcome date that has no outcome by id; then count by (segment family, segment, score
    bin, served decision, p >= threshold, label) with the sum and sum of squares of the
    probability. ``family = 'all'`` rows are the whole group at ``FINE_SCORE_BINS`` bins;
    segment rows use ``SEGMENT_SCORE_BINS``.

    The same aggregate also counts what was read (``part = 'read_counts'``, one row, the
    grouping set ``()``): bad lines, synthetic events and the window's rows before the dedupe
    (``evaluation.cube.split_rows``).

    Every row flows once through one pipeline: scan, number the copies of each prediction id
    (the window function sees only the columns the cube needs, so at 10M events it stays
    cheap), look up the outcome, count; duplicates and rows outside the window are left out
    by the aggregates' filters, not by a second pass. ``customer_outcomes=False`` leaves the
    customer-reference step out: the job asks for that when the outcome store holds no
    customer-reference outcome (``outcome_book``), and the result is the same. With the
    step, the numbered events feed two steps and the engine may materialise them.
    """
    dts = tuple(dt_of(h) for h in hours)
    first, stop = start.strftime("%Y-%m-%dT%H:%M:%S"), end.strftime("%Y-%m-%dT%H:%M:%S")
    fine = f"LEAST(CAST(FLOOR(l.probability * {FINE_SCORE_BINS}) AS BIGINT), {FINE_SCORE_BINS - 1})"
    ratio = FINE_SCORE_BINS // SEGMENT_SCORE_BINS
    coarse = (
        f"LEAST(CAST(FLOOR(l.probability * {SEGMENT_SCORE_BINS}) AS BIGINT), {SEGMENT_SCORE_BINS - 1})"
        f" * {ratio}"
    )
    segments = [_quoted("segment_" + f) for f in SEGMENTS]
    labels = ",\n         ".join(
        f"{_segment_label(f)} AS {s}" for s, f in zip(segments, SEGMENTS, strict=True)
    )
    keys = "e.api_version, e.model_version, e.threshold"
    outcome_keys = "e.served_yes, e.above, e.label"
    sets = ", ".join(
        [
            f"({keys}, e.fine_bin, {outcome_keys})",
            *(f"({keys}, e.{s}, e.coarse_bin, {outcome_keys})" for s in segments),
            "()",
        ]
    )
    family = " ".join(
        f"WHEN GROUPING(e.{s}) = 0 THEN {literal(f)}" for s, f in zip(segments, SEGMENTS, strict=True)
    )
    segment = " ".join(f"WHEN GROUPING(e.{s}) = 0 THEN e.{s}" for s in segments)
    kept = "e.kind = 'event' AND e.copy = 1"
    by_customer_steps = f"""
customer_candidates AS (
  SELECT o.customer_ref, o.outcome, o.outcome_date, o.ingested_at, o.file_sha256, o.source_row,
         u.prediction_id,
         ROW_NUMBER() OVER (
           PARTITION BY o.file_sha256, o.source_row ORDER BY u.timestamp DESC, u.prediction_id DESC
         ) AS latest
  FROM {OUTCOMES_TABLE} AS o
  JOIN numbered AS u
    ON u.customer_ref = o.customer_ref AND SUBSTR(u.timestamp, 1, 10) <= o.outcome_date
  LEFT JOIN by_id AS b ON b.prediction_id = u.prediction_id
  WHERE o.prediction_id IS NULL AND o.customer_ref IS NOT NULL
    AND u.kind = 'event' AND u.copy = 1 AND b.outcome IS NULL
),
customer_matched AS (
  SELECT prediction_id, outcome
  FROM (
    SELECT prediction_id, outcome,
           ROW_NUMBER() OVER (
             PARTITION BY prediction_id
             ORDER BY outcome_date DESC, ingested_at DESC, file_sha256 DESC, source_row DESC
           ) AS rank
    FROM customer_candidates
    WHERE latest = 1
  ) AS ranked
  WHERE rank = 1
),"""
    customer_join = (
        "\n  LEFT JOIN customer_matched AS c"
        " ON c.prediction_id = n.prediction_id AND n.kind = 'event' AND n.copy = 1"
        if customer_outcomes
        else ""
    )
    customer_outcome = "c.outcome" if customer_outcomes else "CAST(NULL AS VARCHAR)"
    customer_columns = "customer_ref, " if customer_outcomes else ""
    sql = f"""
WITH scanned AS (
  SELECT CASE WHEN NOT ({_valid_event()}) THEN 'bad'
              WHEN COALESCE(synthetic, FALSE) THEN 'synthetic'
              WHEN SUBSTR(timestamp, 1, 19) >= {literal(first)} AND SUBSTR(timestamp, 1, 19) < {literal(stop)}
              THEN 'event'
              ELSE 'outside' END AS kind,
         prediction_id, timestamp, request_id, {customer_columns}api_version, model_version, threshold,
         probability, decision = 'yes' AS served_yes,
         {labels}
  FROM {PREDICTIONS_TABLE}
  WHERE dt IN {_in_list(dts)}
),
numbered AS (
  SELECT *,
         ROW_NUMBER() OVER (
           PARTITION BY kind, CASE WHEN kind = 'event' THEN prediction_id END ORDER BY timestamp, request_id
         ) AS copy
  FROM scanned
),
by_id AS (
  {outcome_by_id()}
),{by_customer_steps if customer_outcomes else ""}
labelled AS (
  SELECT n.*,
         CASE COALESCE(b.outcome, {customer_outcome}) WHEN 'yes' THEN 1 WHEN 'no' THEN 0 ELSE -1 END AS label,
         CASE WHEN b.outcome IS NULL AND {customer_outcome} IS NOT NULL THEN 1 ELSE 0 END AS by_customer
  FROM numbered AS n
  LEFT JOIN by_id AS b ON b.prediction_id = n.prediction_id AND n.kind = 'event' AND n.copy = 1{customer_join}
),
cells AS (
  SELECT
    GROUPING(e.api_version) AS totals,
    e.api_version,
    e.model_version,
    e.threshold,
    CASE {family} ELSE 'all' END AS family,
    CASE {segment} ELSE '' END AS segment,
    CASE WHEN GROUPING(e.fine_bin) = 0 THEN e.fine_bin ELSE e.coarse_bin END AS score_bin,
    e.served_yes,
    e.above,
    e.label,
    COUNT(*) FILTER (WHERE {kept}) AS events,
    SUM(e.by_customer) FILTER (WHERE {kept}) AS by_customer,
    SUM(e.probability) FILTER (WHERE {kept}) AS probability_sum,
    SUM(e.probability * e.probability) FILTER (WHERE {kept}) AS probability_squares,
    COUNT(*) FILTER (WHERE e.kind = 'bad') AS bad_lines,
    COUNT(*) FILTER (WHERE e.kind = 'synthetic') AS synthetic_events,
    COUNT(*) FILTER (WHERE e.kind = 'event') AS window_rows
  FROM (
    SELECT l.*, {fine} AS fine_bin, {coarse} AS coarse_bin, l.probability >= l.threshold AS above
    FROM labelled AS l
  ) AS e
  GROUP BY GROUPING SETS ({sets})
)
SELECT CASE WHEN totals = 1 THEN 'read_counts' ELSE 'cube' END AS part,
       api_version, model_version, threshold, family, segment, score_bin, served_yes, above, label,
       events, by_customer, probability_sum, probability_squares, bad_lines, synthetic_events, window_rows
FROM cells
WHERE totals = 1 OR events > 0
"""
    return Query("evaluation_cube", sql.strip(), dts, reads_outcomes=True)


def outcome_book(first_day: str) -> Query:
    """The outcome store in one scan: per accepted file, and the store's summary.

    Rows with ``part = 'file'``: per accepted outcome file its rows and latest outcome date
    (what a window depends on). One row with ``part = 'summary'``: outcomes by prediction id
    (how many ids, extra copies, ids with conflicting answers, ids whose latest outcome is
    dated from ``first_day`` on) and by customer reference (rows, rows from ``first_day`` on).
    One ``GROUPING SETS`` aggregate (per file, per prediction id) under one small aggregate,
    so the store (the largest input at scale) is read once.
    """
    customer = "prediction_id IS NULL AND customer_ref IS NOT NULL"
    sql = f"""
WITH sets AS (
  SELECT GROUPING(file_sha256) AS per_id, file_sha256, prediction_id,
         COUNT(*) AS copies,
         MIN(outcome) AS lowest, MAX(outcome) AS highest,
         MAX(outcome_date) AS last_date,
         COUNT(*) FILTER (WHERE {customer}) AS customer_rows,
         COUNT(*) FILTER (WHERE {customer} AND outcome_date >= {literal(first_day)}) AS customer_rows_in_span
  FROM {OUTCOMES_TABLE}
  GROUP BY GROUPING SETS ((file_sha256), (prediction_id))
)
SELECT CASE per_id WHEN 0 THEN 'file' ELSE 'summary' END AS part,
       CASE per_id WHEN 0 THEN file_sha256 END AS file_sha256,
       SUM(copies) AS outcomes,
       MAX(last_date) AS last_outcome_date,
       COUNT(*) FILTER (WHERE per_id = 1 AND prediction_id IS NOT NULL) AS ids,
       COALESCE(SUM(copies) FILTER (WHERE per_id = 1 AND prediction_id IS NOT NULL), 0)
         - COUNT(*) FILTER (WHERE per_id = 1 AND prediction_id IS NOT NULL) AS duplicates,
       COUNT(*) FILTER (WHERE per_id = 1 AND prediction_id IS NOT NULL AND lowest <> highest) AS conflicts,
       COUNT(*) FILTER (
         WHERE per_id = 1 AND prediction_id IS NOT NULL AND last_date >= {literal(first_day)}
       ) AS ids_in_span,
       COALESCE(SUM(customer_rows) FILTER (WHERE per_id = 1), 0) AS customer_rows,
       COALESCE(SUM(customer_rows_in_span) FILTER (WHERE per_id = 1), 0) AS customer_rows_in_span
FROM sets
GROUP BY per_id, CASE per_id WHEN 0 THEN file_sha256 END
"""
    return Query("outcome_book", sql.strip(), (), reads_outcomes=True)


def all_queries_for_parsing(hours: Sequence[datetime], start: datetime, end: datetime) -> list[Query]:
    """Every query shape the jobs generate (the Trino parse test walks these)."""
    return [
        drift_counts(hours),
        evaluation_cube(hours, start, end),
        Query(
            "evaluation_cube_by_id_only",
            evaluation_cube(hours, start, end, customer_outcomes=False).sql,
            tuple(dt_of(h) for h in hours),
            reads_outcomes=True,
        ),
        outcome_book(start.strftime("%Y-%m-%d")),
    ]
