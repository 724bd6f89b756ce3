"""The prediction path's logger: Powertools' JSON log lines, written with the standard library only.

The prediction function's cold start counts every module it imports (issue 14: at most twice a
process that imports numpy and pydantic). Powertools' ``Logger`` brought about 95 M of its
1,200 M instructions (``logging``, ``inspect``, ``jmespath``, ``gzip``, its metrics and tracer
packages), for a handful of log lines per request. This logger writes the same lines (keys,
order, values; ``tests/unit/service/test_lambda_log.py`` compares the two call for call), so
Logs Insights queries and the init-failure alarm's log filter read them unchanged:

    {"level":"INFO","location":"dispatch:63","message":"...","timestamp":"2026-12-01 15:20:11,123+0000",
     "service":"propensity-api","cold_start":true,"function_name":"...","function_memory_size":1024,
     "function_arn":"...","function_request_id":"...","correlation_id":"<API Gateway request id>",
     <extra keys>,"exception":"Traceback ...","exception_name":"...","stack_trace":{...},
     "xray_trace_id":"1-..."}

The level follows Powertools' precedence: Lambda's advanced logging controls
(``AWS_LAMBDA_LOG_LEVEL``), then ``POWERTOOLS_LOG_LEVEL``, then ``LOG_LEVEL``, else INFO; an
unknown name is refused at import, as Powertools refuses it. ``POWERTOOLS_LOGGER_SAMPLE_RATE``
samples DEBUG per invocation as Powertools does. Not supported (the prediction function sets
none of them): ``POWERTOOLS_LOGGER_LOG_EVENT``, ``POWERTOOLS_DEV``'s indented lines, log buffering.

The jobs keep Powertools (``propensity.observability``), whose Tracer and Metrics they use.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, TextIO, TypeVar

from propensity.constants import METRIC_NAMESPACE, SERVICE_NAME

# Each function sets its own service name and the namespace; these are the defaults (shared
# with propensity.observability, so Powertools' lines and these agree).
SERVICE: Final[str] = os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE_NAME)
NAMESPACE: Final[str] = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", METRIC_NAMESPACE)

DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50
LEVELS: Final[Mapping[str, int]] = {
    "NOTSET": 0,
    "DEBUG": DEBUG,
    "INFO": INFO,
    "WARN": WARNING,
    "WARNING": WARNING,
    "ERROR": ERROR,
    "FATAL": CRITICAL,
    "CRITICAL": CRITICAL,
}
_NAMES: Final[Mapping[int, str]] = {
    DEBUG: "DEBUG",
    INFO: "INFO",
    WARNING: "WARNING",
    ERROR: "ERROR",
    CRITICAL: "CRITICAL",
}
# Lambda's advanced logging controls name their levels differently (Powertools maps them so).
LAMBDA_LEVELS: Final[Mapping[str, str]] = {
    "TRACE": "NOTSET",
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARN": "WARNING",
    "ERROR": "ERROR",
    "FATAL": "CRITICAL",
}
# Keys an ``extra`` cannot set. The standard record's attributes raise, as logging raises for
# them (a programming error, caught by the tests); Powertools drops its own two.
RECORD_ATTRIBUTES: Final[frozenset[str]] = frozenset(
    {
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
        "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated",
        "thread", "threadName", "processName", "process", "taskName", "message", "asctime",
    }
)  # fmt: skip
DROPPED: Final[frozenset[str]] = frozenset({"level", "location", "timestamp"})
TRACE_ID_ENV: Final[str] = "_X_AMZN_TRACE_ID"

_encode = functools.partial(json.dumps, default=str, separators=(",", ":"), ensure_ascii=False)
_cold_start = True
Handler = TypeVar("Handler", bound=Callable[..., Any])


def level_from_env(environ: Mapping[str, str] = os.environ) -> int:
    """The level Powertools would choose from these variables (see the module's docstring)."""
    lambda_level = LAMBDA_LEVELS.get(environ.get("AWS_LAMBDA_LOG_LEVEL", ""))
    name = lambda_level or environ.get("POWERTOOLS_LOG_LEVEL") or environ.get("LOG_LEVEL") or "INFO"
    try:
        return LEVELS[name.upper()]
    except KeyError:
        raise ValueError(
            f"Unknown level: {name!r} (set LOG_LEVEL to DEBUG, INFO, WARNING or ERROR)"
        ) from None


def is_cold_start() -> bool:
    """True on the environment's first invocation only, as Powertools' ``cold_start`` key."""
    global _cold_start
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "provisioned-concurrency":
        _cold_start = False
        return False
    cold, _cold_start = _cold_start, False
    return cold


def reset_cold_start() -> None:
    """For tests: the next invocation is a cold start again."""
    global _cold_start
    _cold_start = True


def api_gateway_request_id(event: Any) -> Any:
    """``requestContext.requestId`` of an API Gateway REST event (Powertools' ``API_GATEWAY_REST``)."""
    context = event.get("requestContext") if isinstance(event, dict) else None
    return context.get("requestId") if isinstance(context, dict) else None


class Logger:
    """``info``/``warning``/``error``/``exception``/``debug`` with ``extra``, as Powertools' Logger."""

    def __init__(
        self, service: str = SERVICE, level: int | None = None, stream: TextIO | None = None
    ) -> None:
        self.service = service
        self.initial_level = level if level is not None else level_from_env()
        self.level = self.initial_level
        self.stream = stream  # None: sys.stdout, looked up per line (tests and runners swap it)
        # Powertools writes the variable's text as the ``sampling_rate`` key of every line.
        self.sampling_rate: str | None = os.environ.get("POWERTOOLS_LOGGER_SAMPLE_RATE") or None
        self._keys: dict[str, Any] = {}
        self._sample()

    # Keys carried by every line -------------------------------------------------------------

    def append_keys(self, **keys: Any) -> None:
        self._keys.update(keys)

    def remove_keys(self, names: list[str]) -> None:
        for name in names:
            self._keys.pop(name, None)

    def clear_state(self) -> None:
        self._keys = {}
        self.level = self.initial_level

    def set_correlation_id(self, value: Any) -> None:
        self._keys["correlation_id"] = value

    def get_correlation_id(self) -> Any:
        return self._keys.get("correlation_id")

    def inject_lambda_context(
        self, correlation_id: Callable[[Any], Any] = api_gateway_request_id
    ) -> Callable[[Handler], Handler]:
        """Decorate a handler: every line then carries the cold start, the Lambda context's keys
        and the correlation id taken from the event (by default the API Gateway REST request id)."""

        def decorate(handler: Handler) -> Handler:
            @functools.wraps(handler)
            def wrapped(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
                cold = is_cold_start()
                self._keys.update(
                    cold_start=cold,
                    function_name=context.function_name,
                    function_memory_size=context.memory_limit_in_mb,
                    function_arn=context.invoked_function_arn,
                    function_request_id=context.aws_request_id,
                    correlation_id=correlation_id(event),
                )
                if self.sampling_rate and not cold:
                    self._sample()
                return handler(event, context, *args, **kwargs)

            return wrapped  # type: ignore[return-value]

        return decorate

    # Writing -------------------------------------------------------------------------------

    def debug(self, message: Any, *args: Any, extra: Mapping[str, Any] | None = None) -> None:
        if self.level <= DEBUG:
            self._write(DEBUG, message, args, extra, None)

    def info(self, message: Any, *args: Any, extra: Mapping[str, Any] | None = None) -> None:
        if self.level <= INFO:
            self._write(INFO, message, args, extra, None)

    def warning(self, message: Any, *args: Any, extra: Mapping[str, Any] | None = None) -> None:
        if self.level <= WARNING:
            self._write(WARNING, message, args, extra, None)

    def error(self, message: Any, *args: Any, extra: Mapping[str, Any] | None = None) -> None:
        if self.level <= ERROR:
            self._write(ERROR, message, args, extra, None)

    def exception(self, message: Any, *args: Any, extra: Mapping[str, Any] | None = None) -> None:
        """An ERROR line with the exception being handled (its traceback and frames)."""
        if self.level <= ERROR:
            self._write(ERROR, message, args, extra, sys.exc_info()[1])

    def _line(
        self,
        level: int,
        message: Any,
        args: tuple[Any, ...],
        extra: Mapping[str, Any] | None,
        error: BaseException | None,
    ) -> dict[str, Any]:
        """The log line as a dict; the caller of ``info`` (and the others) is three frames up."""
        created = time.time()
        caller = sys._getframe(3)
        line: dict[str, Any] = {
            "level": _NAMES.get(level, f"Level {level}"),
            "location": f"{caller.f_code.co_name}:{caller.f_lineno}",
            "message": _message(message, args),
            "timestamp": _timestamp(created),
            "service": self.service,
            "sampling_rate": self.sampling_rate,
            **self._keys,
        }
        if extra:
            for key, value in extra.items():
                if key in RECORD_ATTRIBUTES:
                    raise KeyError(f"Attempt to overwrite {key!r} in LogRecord")
                if key not in DROPPED:
                    line[key] = value
        if error is not None:
            line.update(_exception_keys(error))
        trace = os.environ.get(TRACE_ID_ENV)
        line["xray_trace_id"] = trace.split(";")[0].replace("Root=", "") if trace else None
        return {k: v for k, v in line.items() if v is not None}

    def _write(
        self,
        level: int,
        message: Any,
        args: tuple[Any, ...],
        extra: Mapping[str, Any] | None,
        error: BaseException | None,
    ) -> None:
        stream = self.stream or sys.stdout
        stream.write(_encode(self._line(level, message, args, extra, error)) + "\n")
        stream.flush()  # as logging's StreamHandler: a line is out before the environment freezes

    def _sample(self) -> None:
        """Powertools' sampling: DEBUG for this invocation with probability ``sampling_rate``."""
        self.level = self.initial_level
        if self.sampling_rate:
            import random

            try:
                rate = float(self.sampling_rate)
            except ValueError:
                raise ValueError(
                    f"POWERTOOLS_LOGGER_SAMPLE_RATE must be a number from 0 to 1, not {self.sampling_rate!r}"
                ) from None
            if random.random() <= rate:
                self.level = DEBUG


def _message(message: Any, args: tuple[Any, ...]) -> Any:
    # Powertools: a dict stays a dict, %-arguments are applied, a JSON string is decoded.
    if isinstance(message, dict):
        return message
    if args:
        return str(message) % args
    if isinstance(message, str):
        try:
            return json.loads(message)
        except ValueError:
            return message
    return message


def _timestamp(created: float) -> str:
    # logging's record time in Powertools' default format: local time (TZ=:UTC in Lambda), ms, offset.
    msecs = int((created - int(created)) * 1000)
    return time.strftime(f"%Y-%m-%d %H:%M:%S,{msecs:03d}%z", time.localtime(created))


def _exception_keys(error: BaseException) -> dict[str, Any]:
    import traceback  # the first exception's only

    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return {
        "exception": text[:-1] if text.endswith("\n") else text,
        "exception_name": type(error).__name__,
        "exception_notes": getattr(error, "__notes__", None),
        "stack_trace": {
            "type": type(error).__name__,
            "value": error,
            "module": type(error).__module__,
            "frames": [
                {"file": f.filename, "line": f.lineno, "function": f.name, "statement": f.line}
                for f in traceback.extract_tb(error.__traceback__)
            ],
        },
    }


# The one logger of the prediction path (service/, functions/predict).
logger = Logger()
