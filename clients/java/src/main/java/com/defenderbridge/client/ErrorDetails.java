package com.defenderbridge.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.QuotaFailure;
import com.google.rpc.ResourceInfo;
import com.google.rpc.RetryInfo;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;
import java.util.Optional;

/**
 * The {@code google.rpc} details of a failed defender-bridge call, unpacked.
 *
 * <p>Every error carries an {@link ErrorInfo} (domain {@code defenderbridge}, a stable {@code
 * reason}) plus {@link RetryInfo}, {@link BadRequest}, {@link ResourceInfo} or {@link
 * QuotaFailure} where they apply, in the {@code grpc-status-details-bin} trailer. Branch on {@link
 * #reason()}, not on the message.
 */
public final class ErrorDetails {
  private final Status.Code code;
  private final String message;
  private ErrorInfo errorInfo;
  private RetryInfo retryInfo;
  private BadRequest badRequest;
  private ResourceInfo resourceInfo;
  private QuotaFailure quotaFailure;

  private ErrorDetails(Status.Code code, String message) {
    this.code = code;
    this.message = message;
  }

  /** Unpacks what a failed call threw (a {@code StatusRuntimeException} from a generated stub). */
  public static ErrorDetails from(Throwable thrown) {
    Status status = Status.fromThrowable(thrown);
    ErrorDetails details =
        new ErrorDetails(status.getCode(), status.getDescription() == null ? "" : status.getDescription());
    com.google.rpc.Status rich = StatusProto.fromThrowable(thrown);
    if (rich == null) {
      return details;
    }
    for (Any detail : rich.getDetailsList()) {
      try {
        if (detail.is(ErrorInfo.class)) {
          details.errorInfo = detail.unpack(ErrorInfo.class);
        } else if (detail.is(RetryInfo.class)) {
          details.retryInfo = detail.unpack(RetryInfo.class);
        } else if (detail.is(BadRequest.class)) {
          details.badRequest = detail.unpack(BadRequest.class);
        } else if (detail.is(ResourceInfo.class)) {
          details.resourceInfo = detail.unpack(ResourceInfo.class);
        } else if (detail.is(QuotaFailure.class)) {
          details.quotaFailure = detail.unpack(QuotaFailure.class);
        }
      } catch (InvalidProtocolBufferException malformed) {
        // A detail that does not parse is skipped: the status code and message still stand.
      }
    }
    return details;
  }

  /** The gRPC status code. */
  public Status.Code code() {
    return code;
  }

  /** The status message: what went wrong and what to do, for people. */
  public String message() {
    return message;
  }

  /** ErrorInfo's stable reason (e.g. {@code "RATE_LIMITED"}), or {@code ""} without ErrorInfo. */
  public String reason() {
    return errorInfo == null ? "" : errorInfo.getReason();
  }

  /** How long the server asks the caller to wait before retrying, when it said. */
  public Optional<Duration> retryDelay() {
    if (retryInfo == null || !retryInfo.hasRetryDelay()) {
      return Optional.empty();
    }
    com.google.protobuf.Duration delay = retryInfo.getRetryDelay();
    return Optional.of(Duration.ofSeconds(delay.getSeconds(), delay.getNanos()));
  }

  /** The ErrorInfo, when sent. */
  public Optional<ErrorInfo> errorInfo() {
    return Optional.ofNullable(errorInfo);
  }

  /** The RetryInfo, when sent. */
  public Optional<RetryInfo> retryInfo() {
    return Optional.ofNullable(retryInfo);
  }

  /** The BadRequest (which fields were wrong), when sent. */
  public Optional<BadRequest> badRequest() {
    return Optional.ofNullable(badRequest);
  }

  /** The ResourceInfo (what was not found), when sent. */
  public Optional<ResourceInfo> resourceInfo() {
    return Optional.ofNullable(resourceInfo);
  }

  /** The QuotaFailure, when sent. */
  public Optional<QuotaFailure> quotaFailure() {
    return Optional.ofNullable(quotaFailure);
  }
}
