"""Exceptions of the pipeline.

A Lambda that raises one of these fails with the class name as its error type, which is
what the state machine's Retry and Catch match on. Keep the names stable.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class InputDataError(PipelineError):
    """The uploaded data cannot be used (the message names file, row, column and why)."""


class ConfigError(PipelineError):
    """pipeline.json or a stack setting is invalid (the message names the key)."""


class TransientError(PipelineError):
    """A throttling or service-side failure worth retrying."""


class ProcessingOutputError(PipelineError):
    """The processing job completed but its output is missing or not what the run needs."""


class EndpointBusyError(PipelineError):
    """The endpoint is being created, updated or deleted by someone else; wait and retry.

    Retried by the state machine on a longer schedule than TransientError: an endpoint
    update takes minutes.
    """


class DeploymentError(PipelineError):
    """The endpoint could not be created or updated."""


class RequestError(PipelineError):
    """A prediction request is invalid (HTTP 400)."""


class ModelNotFoundError(PipelineError):
    """No live model of that name (HTTP 404)."""


class EndpointUnavailableError(PipelineError):
    """The endpoint exists but cannot answer now (HTTP 503)."""


class EndpointFailureError(PipelineError):
    """The endpoint answered with an error (HTTP 502)."""
