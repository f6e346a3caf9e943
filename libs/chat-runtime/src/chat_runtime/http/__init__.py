"""HTTP basics shared by every service: problems (RFC 9457), correlation id, body limit,
tracing and metrics middleware, health/readiness/metrics endpoints."""

from chat_runtime.http.app import Lifespan, create_app
from chat_runtime.http.client import client_address
from chat_runtime.http.handlers import install_problem_handlers
from chat_runtime.http.middleware import CORRELATION_HEADER, MAX_BODY_BYTES, EdgeMiddleware
from chat_runtime.http.problems import (
    PROBLEM_MEDIA_TYPE,
    FieldError,
    Problem,
    ProblemBody,
    problem_response,
)
from chat_runtime.http.readiness import Readiness, ReadinessCheck
from chat_runtime.http.validation import validation_problem

__all__ = [
    "CORRELATION_HEADER",
    "MAX_BODY_BYTES",
    "PROBLEM_MEDIA_TYPE",
    "EdgeMiddleware",
    "FieldError",
    "Lifespan",
    "Problem",
    "ProblemBody",
    "Readiness",
    "ReadinessCheck",
    "client_address",
    "create_app",
    "install_problem_handlers",
    "problem_response",
    "validation_problem",
]
