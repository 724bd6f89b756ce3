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


def drift_counts(hours: Sequence[datetime]) -> Query:
    """Everything drift counts, per hour, kind of row and model, in one scan and one aggregate.

    ``kind`` is ``event``, ``synthetic`` (probe and hook traffic, counted on its own) or ``bad``
    (a line that is not an event: malformed JSON, a control message, a missing field).

    One ``GROUPING SETS`` aggregate: the prediction set (``feature`` NULL) counts events by
    decision, band, score bin, uncertainty and warnings; one set per feature name counts its
    raw values (``value`` as text: numbers, ``true``/``false``, categories; NULL: missing).
    Grouping on the native column and printing only the result's values keeps the engine's
    work one hash aggregate over the rows (no per-feature copy of every row, no per-row cast).
    The library bins raw values with each model version's own reference edges, so one query
    serves every model version; a feature of the other API version's spec comes back as one
    NULL row per group, which the library skips.
    """
    dts = tuple(dt_of(h) for h in hours)
    names = [_quoted(name) for name in feature_types()]
    feature = " ".join(f"WHEN GROUPING({n}) = 0 THEN {literal(n.strip(chr(34)))}" for n in names)
    value = " ".join(f"WHEN GROUPING({n}) = 0 THEN CAST({n} AS VARCHAR)" for n in names)
    keys = "dt, kind, api_version, model_version"
    sets = ", ".join([f"({keys}, {', '.join(_PREDICTION_KEYS)})", *(f"({keys}, {n})" for n in names)])
    sql = f"""
WITH rows AS (
  SELECT
    dt,
    CASE WHEN NOT ({_valid_event()}) THEN 'bad'
         WHEN COALESCE(synthetic, FALSE) THEN 'synthetic'
         ELSE 'event' END AS kind,
    api_version,
    model_version,
    threshold,
    decision,
    confidence,
    {score_bin()} AS score_bin,
    {_margin()} < {UNCERTAIN_MARGIN!r} AS uncertain,
    ARRAY_TO_STRING(warnings, CHR(10)) AS warnings_text,
    probability,
    {", ".join(f"features.{n} AS {n}" for n in names)}
  FROM {PREDICTIONS_TABLE}
  WHERE dt IN {_in_list(dts)}
)
SELECT
  {keys},
  {", ".join(_PREDICTION_KEYS)},
  CASE {feature} END AS feature,
  CASE {value} END AS value,
  COUNT(*) AS events,
  SUM(probability) AS probability_sum
FROM rows
GROUP BY GROUPING SETS ({sets})
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


def evaluation_cube(hours: Sequence[datetime], start: datetime, end: datetime) -> Query:
    """One window's predictions joined with their outcomes, counted into a small cube.

    Steps, all in the engine: keep real events timestamped in ``[start, end)`` (read from the
    hours that can hold them), one per prediction id (Firehose delivers at least once);
    resolve each prediction id's outcomes by the documented precedence
    (``labels.outcomes``); attribute each customer-reference outcome to that customer's latest
    prediction made on or before the outcome date that has no outcome by id; then count by
    (segment family, segment, score bin, served decision, p >= threshold, label) with the sum
    and sum of squares of the probability. ``family = 'all'`` rows are the whole group at
    ``FINE_SCORE_BINS`` bins; segment rows use ``SEGMENT_SCORE_BINS``.

    The same scan also counts what was read (``part = 'read_counts'``, one row): bad lines,
    synthetic events and the window's rows before the dedupe (``evaluation.cube.split_rows``).
    """
    dts = tuple(dt_of(h) for h in hours)
    first, stop = start.strftime("%Y-%m-%dT%H:%M:%S"), end.strftime("%Y-%m-%dT%H:%M:%S")
    fine = f"LEAST(CAST(FLOOR(probability * {FINE_SCORE_BINS}) AS BIGINT), {FINE_SCORE_BINS - 1})"
    ratio = FINE_SCORE_BINS // SEGMENT_SCORE_BINS
    coarse = (
        f"LEAST(CAST(FLOOR(probability * {SEGMENT_SCORE_BINS}) AS BIGINT), {SEGMENT_SCORE_BINS - 1})"
        f" * {ratio}"
    )
    # Segment labels are computed while reading, so only they (not the feature struct) travel
    # through the dedupe and the join; the cube is one GROUPING SETS aggregate (the whole group
    # at fine bins plus one set per segment family at coarse bins), not a copy of every row
    # per family.
    labels = ",\n         ".join(f"{_segment_label(f)} AS {_quoted('segment_' + f)}" for f in SEGMENTS)
    keys = "e.api_version, e.model_version, e.threshold"
    outcome_keys = "e.served_yes, e.above, e.label"
    sets = ", ".join(
        [
            f"({keys}, e.fine_bin, {outcome_keys})",
            *(f"({keys}, e.{_quoted('segment_' + f)}, e.coarse_bin, {outcome_keys})" for f in SEGMENTS),
        ]
    )
    family = " ".join(f"WHEN GROUPING(e.{_quoted('segment_' + f)}) = 0 THEN {literal(f)}" for f in SEGMENTS)
    segment = " ".join(
        f"WHEN GROUPING(e.{_quoted('segment_' + f)}) = 0 THEN e.{_quoted('segment_' + f)}" for f in SEGMENTS
    )
    sql = f"""
WITH scanned AS (
  SELECT prediction_id, timestamp, request_id, customer_ref, api_version, model_version, probability,
         threshold, decision = 'yes' AS served_yes, probability >= threshold AS above,
         {fine} AS fine_bin, {coarse} AS coarse_bin,
         {labels},
         CASE WHEN NOT ({_valid_event()}) THEN 'bad'
              WHEN COALESCE(synthetic, FALSE) THEN 'synthetic'
              WHEN SUBSTR(timestamp, 1, 19) >= {literal(first)} AND SUBSTR(timestamp, 1, 19) < {literal(stop)}
              THEN 'event'
              ELSE 'outside' END AS kind
  FROM {PREDICTIONS_TABLE}
  WHERE dt IN {_in_list(dts)}
),
events AS (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY prediction_id ORDER BY timestamp, request_id) AS copy
  FROM scanned
  WHERE kind = 'event'
),
unique_events AS (
  SELECT * FROM events WHERE copy = 1
),
by_id AS (
  SELECT prediction_id, outcome,
         ROW_NUMBER() OVER (
           PARTITION BY prediction_id
           ORDER BY outcome_date DESC, ingested_at DESC, file_sha256 DESC, source_row DESC
         ) AS rank
  FROM {OUTCOMES_TABLE}
  WHERE prediction_id IS NOT NULL
),
id_matched AS (
  SELECT u.prediction_id, b.outcome
  FROM unique_events AS u JOIN by_id AS b ON b.prediction_id = u.prediction_id AND b.rank = 1
),
customer_candidates AS (
  SELECT o.customer_ref, o.outcome, o.outcome_date, o.ingested_at, o.file_sha256, o.source_row,
         u.prediction_id,
         ROW_NUMBER() OVER (
           PARTITION BY o.file_sha256, o.source_row ORDER BY u.timestamp DESC, u.prediction_id DESC
         ) AS latest
  FROM {OUTCOMES_TABLE} AS o
  JOIN unique_events AS u
    ON u.customer_ref = o.customer_ref AND SUBSTR(u.timestamp, 1, 10) <= o.outcome_date
  WHERE o.prediction_id IS NULL AND o.customer_ref IS NOT NULL
    AND u.prediction_id NOT IN (SELECT prediction_id FROM id_matched)
),
customer_matched AS (
  SELECT prediction_id, outcome,
         ROW_NUMBER() OVER (
           PARTITION BY prediction_id
           ORDER BY outcome_date DESC, ingested_at DESC, file_sha256 DESC, source_row DESC
         ) AS rank
  FROM customer_candidates
  WHERE latest = 1
),
labelled AS (
  SELECT e.*,
         CASE COALESCE(i.outcome, c.outcome) WHEN 'yes' THEN 1 WHEN 'no' THEN 0 ELSE -1 END AS label,
         CASE WHEN i.outcome IS NULL AND c.outcome IS NOT NULL THEN 1 ELSE 0 END AS by_customer
  FROM unique_events AS e
  LEFT JOIN id_matched AS i ON i.prediction_id = e.prediction_id
  LEFT JOIN customer_matched AS c ON c.prediction_id = e.prediction_id AND c.rank = 1
),
cells AS (
  SELECT
    e.api_version,
    e.model_version,
    e.threshold,
    CASE {family} ELSE 'all' END AS family,
    CASE {segment} ELSE '' END AS segment,
    CASE WHEN GROUPING(e.fine_bin) = 0 THEN e.fine_bin ELSE e.coarse_bin END AS score_bin,
    e.served_yes,
    e.above,
    e.label,
    COUNT(*) AS events,
    SUM(e.by_customer) AS by_customer,
    SUM(e.probability) AS probability_sum,
    SUM(e.probability * e.probability) AS probability_squares
  FROM labelled AS e
  GROUP BY GROUPING SETS ({sets})
)
SELECT 'cube' AS part, cells.*,
       CAST(NULL AS BIGINT) AS bad_lines, CAST(NULL AS BIGINT) AS synthetic_events,
       CAST(NULL AS BIGINT) AS window_rows
FROM cells
UNION ALL
SELECT 'read_counts', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       COUNT_IF(kind = 'bad'), COUNT_IF(kind = 'synthetic'), COUNT_IF(kind = 'event')
FROM scanned
"""
    return Query("evaluation_cube", sql.strip(), dts, reads_outcomes=True)


def outcome_files() -> Query:
    """Per accepted outcome file: its rows and latest outcome date (what a window depends on)."""
    sql = f"""
SELECT file_sha256, COUNT(*) AS outcomes, MAX(outcome_date) AS last_outcome_date
FROM {OUTCOMES_TABLE}
GROUP BY 1
"""
    return Query("outcome_files", sql.strip(), (), reads_outcomes=True)


def outcome_summary(first_day: str) -> Query:
    """Outcomes in the store: how many, duplicated or conflicting, and dated from ``first_day`` on."""
    sql = f"""
WITH per_id AS (
  SELECT prediction_id, COUNT(*) AS copies, COUNT(DISTINCT outcome) AS answers, MAX(outcome_date) AS last_date
  FROM {OUTCOMES_TABLE}
  WHERE prediction_id IS NOT NULL
  GROUP BY 1
),
by_customer AS (
  SELECT COUNT(*) AS customer_rows,
         COUNT(*) FILTER (WHERE outcome_date >= {literal(first_day)}) AS customer_rows_in_span
  FROM {OUTCOMES_TABLE}
  WHERE prediction_id IS NULL AND customer_ref IS NOT NULL
),
files AS (
  SELECT COUNT(DISTINCT file_sha256) AS files FROM {OUTCOMES_TABLE}
)
SELECT
  (SELECT COUNT(*) FROM per_id) AS ids,
  (SELECT COALESCE(SUM(copies), 0) - COUNT(*) FROM per_id) AS duplicates,
  (SELECT COUNT(*) FROM per_id WHERE answers > 1) AS conflicts,
  (SELECT COUNT(*) FROM per_id WHERE last_date >= {literal(first_day)}) AS ids_in_span,
  by_customer.customer_rows,
  by_customer.customer_rows_in_span,
  files.files
FROM by_customer CROSS JOIN files
"""
    return Query("outcome_summary", sql.strip(), (), reads_outcomes=True)


def all_queries_for_parsing(hours: Sequence[datetime], start: datetime, end: datetime) -> list[Query]:
    """Every query shape the jobs generate (the Trino parse test walks these)."""
    return [
        drift_counts(hours),
        evaluation_cube(hours, start, end),
        outcome_files(),
        outcome_summary(start.strftime("%Y-%m-%d")),
    ]
