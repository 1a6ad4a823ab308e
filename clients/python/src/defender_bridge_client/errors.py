"""The ``google.rpc`` details of a failed call, unpacked.

defender-bridge puts an ``ErrorInfo`` (domain ``defenderbridge``, a stable ``reason``) on every
error, plus ``RetryInfo``, ``BadRequest``, ``ResourceInfo`` or ``QuotaFailure`` where they apply,
in the ``grpc-status-details-bin`` trailer. Branch on ``reason``, not on the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import grpc
from google.rpc import error_details_pb2  # type: ignore[import-untyped]  # ships no stubs
from grpc_status import rpc_status


@dataclass
class ErrorDetails:
    """What a failed call carried. Fields are ``None`` when the server did not send them."""

    code: grpc.StatusCode
    message: str
    error_info: error_details_pb2.ErrorInfo | None = None
    retry_info: error_details_pb2.RetryInfo | None = None
    bad_request: error_details_pb2.BadRequest | None = None
    resource_info: error_details_pb2.ResourceInfo | None = None
    quota_failure: error_details_pb2.QuotaFailure | None = None
    others: list[object] = field(default_factory=list)

    @property
    def reason(self) -> str:
        """ErrorInfo's ``reason`` (e.g. ``"RATE_LIMITED"``), or ``""`` when there was none."""
        return self.error_info.reason if self.error_info is not None else ""

    @property
    def retry_delay(self) -> timedelta | None:
        """How long the server asks the caller to wait before retrying, if it said."""
        if self.retry_info is None or not self.retry_info.HasField("retry_delay"):
            return None
        delay: timedelta = self.retry_info.retry_delay.ToTimedelta()
        return delay


_DETAIL_TYPES = {
    "error_info": error_details_pb2.ErrorInfo,
    "retry_info": error_details_pb2.RetryInfo,
    "bad_request": error_details_pb2.BadRequest,
    "resource_info": error_details_pb2.ResourceInfo,
    "quota_failure": error_details_pb2.QuotaFailure,
}


def error_details(error: grpc.RpcError) -> ErrorDetails:
    """Unpacks the rich details of ``error`` (a failed call from a generated stub)."""
    call: grpc.Call = error  # type: ignore[assignment]  # stub errors are also grpc.Call
    details = ErrorDetails(code=call.code(), message=call.details() or "")
    status = rpc_status.from_call(call)
    if status is None:
        return details
    for detail in status.details:
        for attribute, message_type in _DETAIL_TYPES.items():
            if detail.Is(message_type.DESCRIPTOR):
                unpacked = message_type()
                detail.Unpack(unpacked)
                setattr(details, attribute, unpacked)
                break
        else:
            details.others.append(detail)
    return details
