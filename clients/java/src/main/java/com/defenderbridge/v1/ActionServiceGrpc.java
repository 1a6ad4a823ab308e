package com.defenderbridge.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * Starts, follows and cancels Defender machine actions. Callers need the `responder` role.
 * Starting an action returns Defender's machine action, normally PENDING; follow it with
 * WatchMachineAction or GetMachineAction. The comment sent to Defender is stamped with the
 * caller's identity and `request_id`, since Defender records only the application as the
 * requestor. Isolation and release are written to the audit log before the response is sent.
 * An action on a machine drops its cached risk. A failed start is never retried blindly: an
 * ambiguous failure is settled by looking for the action among the machine's actions.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class ActionServiceGrpc {

  private ActionServiceGrpc() {}

  public static final java.lang.String SERVICE_NAME = "defenderbridge.v1.ActionService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.IsolateMachineRequest,
      com.defenderbridge.v1.MachineAction> getIsolateMachineMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "IsolateMachine",
      requestType = com.defenderbridge.v1.IsolateMachineRequest.class,
      responseType = com.defenderbridge.v1.MachineAction.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.IsolateMachineRequest,
      com.defenderbridge.v1.MachineAction> getIsolateMachineMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.IsolateMachineRequest, com.defenderbridge.v1.MachineAction> getIsolateMachineMethod;
    if ((getIsolateMachineMethod = ActionServiceGrpc.getIsolateMachineMethod) == null) {
      synchronized (ActionServiceGrpc.class) {
        if ((getIsolateMachineMethod = ActionServiceGrpc.getIsolateMachineMethod) == null) {
          ActionServiceGrpc.getIsolateMachineMethod = getIsolateMachineMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.IsolateMachineRequest, com.defenderbridge.v1.MachineAction>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "IsolateMachine"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.IsolateMachineRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.MachineAction.getDefaultInstance()))
              .setSchemaDescriptor(new ActionServiceMethodDescriptorSupplier("IsolateMachine"))
              .build();
        }
      }
    }
    return getIsolateMachineMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.ReleaseMachineRequest,
      com.defenderbridge.v1.MachineAction> getReleaseMachineMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ReleaseMachine",
      requestType = com.defenderbridge.v1.ReleaseMachineRequest.class,
      responseType = com.defenderbridge.v1.MachineAction.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.ReleaseMachineRequest,
      com.defenderbridge.v1.MachineAction> getReleaseMachineMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.ReleaseMachineRequest, com.defenderbridge.v1.MachineAction> getReleaseMachineMethod;
    if ((getReleaseMachineMethod = ActionServiceGrpc.getReleaseMachineMethod) == null) {
      synchronized (ActionServiceGrpc.class) {
        if ((getReleaseMachineMethod = ActionServiceGrpc.getReleaseMachineMethod) == null) {
          ActionServiceGrpc.getReleaseMachineMethod = getReleaseMachineMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.ReleaseMachineRequest, com.defenderbridge.v1.MachineAction>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ReleaseMachine"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.ReleaseMachineRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.MachineAction.getDefaultInstance()))
              .setSchemaDescriptor(new ActionServiceMethodDescriptorSupplier("ReleaseMachine"))
              .build();
        }
      }
    }
    return getReleaseMachineMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.RunAntivirusScanRequest,
      com.defenderbridge.v1.MachineAction> getRunAntivirusScanMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "RunAntivirusScan",
      requestType = com.defenderbridge.v1.RunAntivirusScanRequest.class,
      responseType = com.defenderbridge.v1.MachineAction.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.RunAntivirusScanRequest,
      com.defenderbridge.v1.MachineAction> getRunAntivirusScanMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.RunAntivirusScanRequest, com.defenderbridge.v1.MachineAction> getRunAntivirusScanMethod;
    if ((getRunAntivirusScanMethod = ActionServiceGrpc.getRunAntivirusScanMethod) == null) {
      synchronized (ActionServiceGrpc.class) {
        if ((getRunAntivirusScanMethod = ActionServiceGrpc.getRunAntivirusScanMethod) == null) {
          ActionServiceGrpc.getRunAntivirusScanMethod = getRunAntivirusScanMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.RunAntivirusScanRequest, com.defenderbridge.v1.MachineAction>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "RunAntivirusScan"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.RunAntivirusScanRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.MachineAction.getDefaultInstance()))
              .setSchemaDescriptor(new ActionServiceMethodDescriptorSupplier("RunAntivirusScan"))
              .build();
        }
      }
    }
    return getRunAntivirusScanMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.GetMachineActionRequest,
      com.defenderbridge.v1.MachineAction> getGetMachineActionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetMachineAction",
      requestType = com.defenderbridge.v1.GetMachineActionRequest.class,
      responseType = com.defenderbridge.v1.MachineAction.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.GetMachineActionRequest,
      com.defenderbridge.v1.MachineAction> getGetMachineActionMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.GetMachineActionRequest, com.defenderbridge.v1.MachineAction> getGetMachineActionMethod;
    if ((getGetMachineActionMethod = ActionServiceGrpc.getGetMachineActionMethod) == null) {
      synchronized (ActionServiceGrpc.class) {
        if ((getGetMachineActionMethod = ActionServiceGrpc.getGetMachineActionMethod) == null) {
          ActionServiceGrpc.getGetMachineActionMethod = getGetMachineActionMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.GetMachineActionRequest, com.defenderbridge.v1.MachineAction>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetMachineAction"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.GetMachineActionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.MachineAction.getDefaultInstance()))
              .setSchemaDescriptor(new ActionServiceMethodDescriptorSupplier("GetMachineAction"))
              .build();
        }
      }
    }
    return getGetMachineActionMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.ListMachineActionsRequest,
      com.defenderbridge.v1.ListMachineActionsResponse> getListMachineActionsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListMachineActions",
      requestType = com.defenderbridge.v1.ListMachineActionsRequest.class,
      responseType = com.defenderbridge.v1.ListMachineActionsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.ListMachineActionsRequest,
      com.defenderbridge.v1.ListMachineActionsResponse> getListMachineActionsMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.ListMachineActionsRequest, com.defenderbridge.v1.ListMachineActionsResponse> getListMachineActionsMethod;
    if ((getListMachineActionsMethod = ActionServiceGrpc.getListMachineActionsMethod) == null) {
      synchronized (ActionServiceGrpc.class) {
        if ((getListMachineActionsMethod = ActionServiceGrpc.getListMachineActionsMethod) == null) {
          ActionServiceGrpc.getListMachineActionsMethod = getListMachineActionsMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.ListMachineActionsRequest, com.defenderbridge.v1.ListMachineActionsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListMachineActions"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.ListMachineActionsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.ListMachineActionsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ActionServiceMethodDescriptorSupplier("ListMachineActions"))
              .build();
        }
      }
    }
    return getListMachineActionsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.WatchMachineActionRequest,
      com.defenderbridge.v1.MachineAction> getWatchMachineActionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "WatchMachineAction",
      requestType = com.defenderbridge.v1.WatchMachineActionRequest.class,
      responseType = com.defenderbridge.v1.MachineAction.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.WatchMachineActionRequest,
      com.defenderbridge.v1.MachineAction> getWatchMachineActionMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.WatchMachineActionRequest, com.defenderbridge.v1.MachineAction> getWatchMachineActionMethod;
    if ((getWatchMachineActionMethod = ActionServiceGrpc.getWatchMachineActionMethod) == null) {
      synchronized (ActionServiceGrpc.class) {
        if ((getWatchMachineActionMethod = ActionServiceGrpc.getWatchMachineActionMethod) == null) {
          ActionServiceGrpc.getWatchMachineActionMethod = getWatchMachineActionMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.WatchMachineActionRequest, com.defenderbridge.v1.MachineAction>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "WatchMachineAction"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.WatchMachineActionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.MachineAction.getDefaultInstance()))
              .setSchemaDescriptor(new ActionServiceMethodDescriptorSupplier("WatchMachineAction"))
              .build();
        }
      }
    }
    return getWatchMachineActionMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.CancelMachineActionRequest,
      com.defenderbridge.v1.MachineAction> getCancelMachineActionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CancelMachineAction",
      requestType = com.defenderbridge.v1.CancelMachineActionRequest.class,
      responseType = com.defenderbridge.v1.MachineAction.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.CancelMachineActionRequest,
      com.defenderbridge.v1.MachineAction> getCancelMachineActionMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.CancelMachineActionRequest, com.defenderbridge.v1.MachineAction> getCancelMachineActionMethod;
    if ((getCancelMachineActionMethod = ActionServiceGrpc.getCancelMachineActionMethod) == null) {
      synchronized (ActionServiceGrpc.class) {
        if ((getCancelMachineActionMethod = ActionServiceGrpc.getCancelMachineActionMethod) == null) {
          ActionServiceGrpc.getCancelMachineActionMethod = getCancelMachineActionMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.CancelMachineActionRequest, com.defenderbridge.v1.MachineAction>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CancelMachineAction"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.CancelMachineActionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.MachineAction.getDefaultInstance()))
              .setSchemaDescriptor(new ActionServiceMethodDescriptorSupplier("CancelMachineAction"))
              .build();
        }
      }
    }
    return getCancelMachineActionMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static ActionServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ActionServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ActionServiceStub>() {
        @java.lang.Override
        public ActionServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ActionServiceStub(channel, callOptions);
        }
      };
    return ActionServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static ActionServiceBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ActionServiceBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ActionServiceBlockingV2Stub>() {
        @java.lang.Override
        public ActionServiceBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ActionServiceBlockingV2Stub(channel, callOptions);
        }
      };
    return ActionServiceBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static ActionServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ActionServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ActionServiceBlockingStub>() {
        @java.lang.Override
        public ActionServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ActionServiceBlockingStub(channel, callOptions);
        }
      };
    return ActionServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static ActionServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ActionServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ActionServiceFutureStub>() {
        @java.lang.Override
        public ActionServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ActionServiceFutureStub(channel, callOptions);
        }
      };
    return ActionServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * Starts, follows and cancels Defender machine actions. Callers need the `responder` role.
   * Starting an action returns Defender's machine action, normally PENDING; follow it with
   * WatchMachineAction or GetMachineAction. The comment sent to Defender is stamped with the
   * caller's identity and `request_id`, since Defender records only the application as the
   * requestor. Isolation and release are written to the audit log before the response is sent.
   * An action on a machine drops its cached risk. A failed start is never retried blindly: an
   * ambiguous failure is settled by looking for the action among the machine's actions.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * Isolates a machine from the network (Defender's isolate). The machine loses network
     * connectivity, except to Defender, until it is released. ALREADY_EXISTS
     * (`ACTION_ALREADY_PENDING`) when an isolation is already pending on it.
     * </pre>
     */
    default void isolateMachine(com.defenderbridge.v1.IsolateMachineRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getIsolateMachineMethod(), responseObserver);
    }

    /**
     * <pre>
     * Releases a machine from isolation (Defender's unisolate). ALREADY_EXISTS
     * (`ACTION_ALREADY_PENDING`) when a release is already pending on it.
     * </pre>
     */
    default void releaseMachine(com.defenderbridge.v1.ReleaseMachineRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getReleaseMachineMethod(), responseObserver);
    }

    /**
     * <pre>
     * Starts a Microsoft Defender Antivirus scan on a machine. ALREADY_EXISTS
     * (`ACTION_ALREADY_PENDING`) when a scan is already pending on it.
     * </pre>
     */
    default void runAntivirusScan(com.defenderbridge.v1.RunAntivirusScanRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getRunAntivirusScanMethod(), responseObserver);
    }

    /**
     * <pre>
     * Returns one machine action by id. NOT_FOUND when Defender does not know it.
     * </pre>
     */
    default void getMachineAction(com.defenderbridge.v1.GetMachineActionRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetMachineActionMethod(), responseObserver);
    }

    /**
     * <pre>
     * Lists machine actions, filtered by machine, type and status, with pagination.
     * </pre>
     */
    default void listMachineActions(com.defenderbridge.v1.ListMachineActionsRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.ListMachineActionsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListMachineActionsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Streams a machine action: its current state first, then again each time its status
     * changes, and ends after a terminal status (SUCCEEDED, FAILED, TIMEOUT, CANCELLED). The
     * caller's deadline bounds the watch; each poll is one Defender call and spends rate budget.
     * </pre>
     */
    default void watchMachineAction(com.defenderbridge.v1.WatchMachineActionRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getWatchMachineActionMethod(), responseObserver);
    }

    /**
     * <pre>
     * Cancels a machine action that has not finished (Defender's machine action cancel) and
     * returns it. An action that already reached a terminal status is returned unchanged: check
     * `status`.
     * </pre>
     */
    default void cancelMachineAction(com.defenderbridge.v1.CancelMachineActionRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCancelMachineActionMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service ActionService.
   * <pre>
   * Starts, follows and cancels Defender machine actions. Callers need the `responder` role.
   * Starting an action returns Defender's machine action, normally PENDING; follow it with
   * WatchMachineAction or GetMachineAction. The comment sent to Defender is stamped with the
   * caller's identity and `request_id`, since Defender records only the application as the
   * requestor. Isolation and release are written to the audit log before the response is sent.
   * An action on a machine drops its cached risk. A failed start is never retried blindly: an
   * ambiguous failure is settled by looking for the action among the machine's actions.
   * </pre>
   */
  public static abstract class ActionServiceImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return ActionServiceGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service ActionService.
   * <pre>
   * Starts, follows and cancels Defender machine actions. Callers need the `responder` role.
   * Starting an action returns Defender's machine action, normally PENDING; follow it with
   * WatchMachineAction or GetMachineAction. The comment sent to Defender is stamped with the
   * caller's identity and `request_id`, since Defender records only the application as the
   * requestor. Isolation and release are written to the audit log before the response is sent.
   * An action on a machine drops its cached risk. A failed start is never retried blindly: an
   * ambiguous failure is settled by looking for the action among the machine's actions.
   * </pre>
   */
  public static final class ActionServiceStub
      extends io.grpc.stub.AbstractAsyncStub<ActionServiceStub> {
    private ActionServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ActionServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ActionServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Isolates a machine from the network (Defender's isolate). The machine loses network
     * connectivity, except to Defender, until it is released. ALREADY_EXISTS
     * (`ACTION_ALREADY_PENDING`) when an isolation is already pending on it.
     * </pre>
     */
    public void isolateMachine(com.defenderbridge.v1.IsolateMachineRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getIsolateMachineMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Releases a machine from isolation (Defender's unisolate). ALREADY_EXISTS
     * (`ACTION_ALREADY_PENDING`) when a release is already pending on it.
     * </pre>
     */
    public void releaseMachine(com.defenderbridge.v1.ReleaseMachineRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getReleaseMachineMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Starts a Microsoft Defender Antivirus scan on a machine. ALREADY_EXISTS
     * (`ACTION_ALREADY_PENDING`) when a scan is already pending on it.
     * </pre>
     */
    public void runAntivirusScan(com.defenderbridge.v1.RunAntivirusScanRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getRunAntivirusScanMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Returns one machine action by id. NOT_FOUND when Defender does not know it.
     * </pre>
     */
    public void getMachineAction(com.defenderbridge.v1.GetMachineActionRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetMachineActionMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Lists machine actions, filtered by machine, type and status, with pagination.
     * </pre>
     */
    public void listMachineActions(com.defenderbridge.v1.ListMachineActionsRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.ListMachineActionsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListMachineActionsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Streams a machine action: its current state first, then again each time its status
     * changes, and ends after a terminal status (SUCCEEDED, FAILED, TIMEOUT, CANCELLED). The
     * caller's deadline bounds the watch; each poll is one Defender call and spends rate budget.
     * </pre>
     */
    public void watchMachineAction(com.defenderbridge.v1.WatchMachineActionRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getWatchMachineActionMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Cancels a machine action that has not finished (Defender's machine action cancel) and
     * returns it. An action that already reached a terminal status is returned unchanged: check
     * `status`.
     * </pre>
     */
    public void cancelMachineAction(com.defenderbridge.v1.CancelMachineActionRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCancelMachineActionMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service ActionService.
   * <pre>
   * Starts, follows and cancels Defender machine actions. Callers need the `responder` role.
   * Starting an action returns Defender's machine action, normally PENDING; follow it with
   * WatchMachineAction or GetMachineAction. The comment sent to Defender is stamped with the
   * caller's identity and `request_id`, since Defender records only the application as the
   * requestor. Isolation and release are written to the audit log before the response is sent.
   * An action on a machine drops its cached risk. A failed start is never retried blindly: an
   * ambiguous failure is settled by looking for the action among the machine's actions.
   * </pre>
   */
  public static final class ActionServiceBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<ActionServiceBlockingV2Stub> {
    private ActionServiceBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ActionServiceBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ActionServiceBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * Isolates a machine from the network (Defender's isolate). The machine loses network
     * connectivity, except to Defender, until it is released. ALREADY_EXISTS
     * (`ACTION_ALREADY_PENDING`) when an isolation is already pending on it.
     * </pre>
     */
    public com.defenderbridge.v1.MachineAction isolateMachine(com.defenderbridge.v1.IsolateMachineRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getIsolateMachineMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Releases a machine from isolation (Defender's unisolate). ALREADY_EXISTS
     * (`ACTION_ALREADY_PENDING`) when a release is already pending on it.
     * </pre>
     */
    public com.defenderbridge.v1.MachineAction releaseMachine(com.defenderbridge.v1.ReleaseMachineRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getReleaseMachineMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Starts a Microsoft Defender Antivirus scan on a machine. ALREADY_EXISTS
     * (`ACTION_ALREADY_PENDING`) when a scan is already pending on it.
     * </pre>
     */
    public com.defenderbridge.v1.MachineAction runAntivirusScan(com.defenderbridge.v1.RunAntivirusScanRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getRunAntivirusScanMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Returns one machine action by id. NOT_FOUND when Defender does not know it.
     * </pre>
     */
    public com.defenderbridge.v1.MachineAction getMachineAction(com.defenderbridge.v1.GetMachineActionRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGetMachineActionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists machine actions, filtered by machine, type and status, with pagination.
     * </pre>
     */
    public com.defenderbridge.v1.ListMachineActionsResponse listMachineActions(com.defenderbridge.v1.ListMachineActionsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListMachineActionsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Streams a machine action: its current state first, then again each time its status
     * changes, and ends after a terminal status (SUCCEEDED, FAILED, TIMEOUT, CANCELLED). The
     * caller's deadline bounds the watch; each poll is one Defender call and spends rate budget.
     * </pre>
     */
    @io.grpc.ExperimentalApi("https://github.com/grpc/grpc-java/issues/10918")
    public io.grpc.stub.BlockingClientCall<?, com.defenderbridge.v1.MachineAction>
        watchMachineAction(com.defenderbridge.v1.WatchMachineActionRequest request) {
      return io.grpc.stub.ClientCalls.blockingV2ServerStreamingCall(
          getChannel(), getWatchMachineActionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Cancels a machine action that has not finished (Defender's machine action cancel) and
     * returns it. An action that already reached a terminal status is returned unchanged: check
     * `status`.
     * </pre>
     */
    public com.defenderbridge.v1.MachineAction cancelMachineAction(com.defenderbridge.v1.CancelMachineActionRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getCancelMachineActionMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service ActionService.
   * <pre>
   * Starts, follows and cancels Defender machine actions. Callers need the `responder` role.
   * Starting an action returns Defender's machine action, normally PENDING; follow it with
   * WatchMachineAction or GetMachineAction. The comment sent to Defender is stamped with the
   * caller's identity and `request_id`, since Defender records only the application as the
   * requestor. Isolation and release are written to the audit log before the response is sent.
   * An action on a machine drops its cached risk. A failed start is never retried blindly: an
   * ambiguous failure is settled by looking for the action among the machine's actions.
   * </pre>
   */
  public static final class ActionServiceBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<ActionServiceBlockingStub> {
    private ActionServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ActionServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ActionServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Isolates a machine from the network (Defender's isolate). The machine loses network
     * connectivity, except to Defender, until it is released. ALREADY_EXISTS
     * (`ACTION_ALREADY_PENDING`) when an isolation is already pending on it.
     * </pre>
     */
    public com.defenderbridge.v1.MachineAction isolateMachine(com.defenderbridge.v1.IsolateMachineRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getIsolateMachineMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Releases a machine from isolation (Defender's unisolate). ALREADY_EXISTS
     * (`ACTION_ALREADY_PENDING`) when a release is already pending on it.
     * </pre>
     */
    public com.defenderbridge.v1.MachineAction releaseMachine(com.defenderbridge.v1.ReleaseMachineRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getReleaseMachineMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Starts a Microsoft Defender Antivirus scan on a machine. ALREADY_EXISTS
     * (`ACTION_ALREADY_PENDING`) when a scan is already pending on it.
     * </pre>
     */
    public com.defenderbridge.v1.MachineAction runAntivirusScan(com.defenderbridge.v1.RunAntivirusScanRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getRunAntivirusScanMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Returns one machine action by id. NOT_FOUND when Defender does not know it.
     * </pre>
     */
    public com.defenderbridge.v1.MachineAction getMachineAction(com.defenderbridge.v1.GetMachineActionRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetMachineActionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists machine actions, filtered by machine, type and status, with pagination.
     * </pre>
     */
    public com.defenderbridge.v1.ListMachineActionsResponse listMachineActions(com.defenderbridge.v1.ListMachineActionsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListMachineActionsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Streams a machine action: its current state first, then again each time its status
     * changes, and ends after a terminal status (SUCCEEDED, FAILED, TIMEOUT, CANCELLED). The
     * caller's deadline bounds the watch; each poll is one Defender call and spends rate budget.
     * </pre>
     */
    public java.util.Iterator<com.defenderbridge.v1.MachineAction> watchMachineAction(
        com.defenderbridge.v1.WatchMachineActionRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getWatchMachineActionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Cancels a machine action that has not finished (Defender's machine action cancel) and
     * returns it. An action that already reached a terminal status is returned unchanged: check
     * `status`.
     * </pre>
     */
    public com.defenderbridge.v1.MachineAction cancelMachineAction(com.defenderbridge.v1.CancelMachineActionRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCancelMachineActionMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service ActionService.
   * <pre>
   * Starts, follows and cancels Defender machine actions. Callers need the `responder` role.
   * Starting an action returns Defender's machine action, normally PENDING; follow it with
   * WatchMachineAction or GetMachineAction. The comment sent to Defender is stamped with the
   * caller's identity and `request_id`, since Defender records only the application as the
   * requestor. Isolation and release are written to the audit log before the response is sent.
   * An action on a machine drops its cached risk. A failed start is never retried blindly: an
   * ambiguous failure is settled by looking for the action among the machine's actions.
   * </pre>
   */
  public static final class ActionServiceFutureStub
      extends io.grpc.stub.AbstractFutureStub<ActionServiceFutureStub> {
    private ActionServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ActionServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ActionServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Isolates a machine from the network (Defender's isolate). The machine loses network
     * connectivity, except to Defender, until it is released. ALREADY_EXISTS
     * (`ACTION_ALREADY_PENDING`) when an isolation is already pending on it.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.defenderbridge.v1.MachineAction> isolateMachine(
        com.defenderbridge.v1.IsolateMachineRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getIsolateMachineMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Releases a machine from isolation (Defender's unisolate). ALREADY_EXISTS
     * (`ACTION_ALREADY_PENDING`) when a release is already pending on it.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.defenderbridge.v1.MachineAction> releaseMachine(
        com.defenderbridge.v1.ReleaseMachineRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getReleaseMachineMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Starts a Microsoft Defender Antivirus scan on a machine. ALREADY_EXISTS
     * (`ACTION_ALREADY_PENDING`) when a scan is already pending on it.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.defenderbridge.v1.MachineAction> runAntivirusScan(
        com.defenderbridge.v1.RunAntivirusScanRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getRunAntivirusScanMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Returns one machine action by id. NOT_FOUND when Defender does not know it.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.defenderbridge.v1.MachineAction> getMachineAction(
        com.defenderbridge.v1.GetMachineActionRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetMachineActionMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Lists machine actions, filtered by machine, type and status, with pagination.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.defenderbridge.v1.ListMachineActionsResponse> listMachineActions(
        com.defenderbridge.v1.ListMachineActionsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListMachineActionsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Cancels a machine action that has not finished (Defender's machine action cancel) and
     * returns it. An action that already reached a terminal status is returned unchanged: check
     * `status`.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.defenderbridge.v1.MachineAction> cancelMachineAction(
        com.defenderbridge.v1.CancelMachineActionRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCancelMachineActionMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_ISOLATE_MACHINE = 0;
  private static final int METHODID_RELEASE_MACHINE = 1;
  private static final int METHODID_RUN_ANTIVIRUS_SCAN = 2;
  private static final int METHODID_GET_MACHINE_ACTION = 3;
  private static final int METHODID_LIST_MACHINE_ACTIONS = 4;
  private static final int METHODID_WATCH_MACHINE_ACTION = 5;
  private static final int METHODID_CANCEL_MACHINE_ACTION = 6;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final AsyncService serviceImpl;
    private final int methodId;

    MethodHandlers(AsyncService serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_ISOLATE_MACHINE:
          serviceImpl.isolateMachine((com.defenderbridge.v1.IsolateMachineRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction>) responseObserver);
          break;
        case METHODID_RELEASE_MACHINE:
          serviceImpl.releaseMachine((com.defenderbridge.v1.ReleaseMachineRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction>) responseObserver);
          break;
        case METHODID_RUN_ANTIVIRUS_SCAN:
          serviceImpl.runAntivirusScan((com.defenderbridge.v1.RunAntivirusScanRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction>) responseObserver);
          break;
        case METHODID_GET_MACHINE_ACTION:
          serviceImpl.getMachineAction((com.defenderbridge.v1.GetMachineActionRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction>) responseObserver);
          break;
        case METHODID_LIST_MACHINE_ACTIONS:
          serviceImpl.listMachineActions((com.defenderbridge.v1.ListMachineActionsRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.ListMachineActionsResponse>) responseObserver);
          break;
        case METHODID_WATCH_MACHINE_ACTION:
          serviceImpl.watchMachineAction((com.defenderbridge.v1.WatchMachineActionRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction>) responseObserver);
          break;
        case METHODID_CANCEL_MACHINE_ACTION:
          serviceImpl.cancelMachineAction((com.defenderbridge.v1.CancelMachineActionRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.MachineAction>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        default:
          throw new AssertionError();
      }
    }
  }

  public static final io.grpc.ServerServiceDefinition bindService(AsyncService service) {
    return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
        .addMethod(
          getIsolateMachineMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              com.defenderbridge.v1.IsolateMachineRequest,
              com.defenderbridge.v1.MachineAction>(
                service, METHODID_ISOLATE_MACHINE)))
        .addMethod(
          getReleaseMachineMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              com.defenderbridge.v1.ReleaseMachineRequest,
              com.defenderbridge.v1.MachineAction>(
                service, METHODID_RELEASE_MACHINE)))
        .addMethod(
          getRunAntivirusScanMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              com.defenderbridge.v1.RunAntivirusScanRequest,
              com.defenderbridge.v1.MachineAction>(
                service, METHODID_RUN_ANTIVIRUS_SCAN)))
        .addMethod(
          getGetMachineActionMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              com.defenderbridge.v1.GetMachineActionRequest,
              com.defenderbridge.v1.MachineAction>(
                service, METHODID_GET_MACHINE_ACTION)))
        .addMethod(
          getListMachineActionsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              com.defenderbridge.v1.ListMachineActionsRequest,
              com.defenderbridge.v1.ListMachineActionsResponse>(
                service, METHODID_LIST_MACHINE_ACTIONS)))
        .addMethod(
          getWatchMachineActionMethod(),
          io.grpc.stub.ServerCalls.asyncServerStreamingCall(
            new MethodHandlers<
              com.defenderbridge.v1.WatchMachineActionRequest,
              com.defenderbridge.v1.MachineAction>(
                service, METHODID_WATCH_MACHINE_ACTION)))
        .addMethod(
          getCancelMachineActionMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              com.defenderbridge.v1.CancelMachineActionRequest,
              com.defenderbridge.v1.MachineAction>(
                service, METHODID_CANCEL_MACHINE_ACTION)))
        .build();
  }

  private static abstract class ActionServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    ActionServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return com.defenderbridge.v1.ActionServiceProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("ActionService");
    }
  }

  private static final class ActionServiceFileDescriptorSupplier
      extends ActionServiceBaseDescriptorSupplier {
    ActionServiceFileDescriptorSupplier() {}
  }

  private static final class ActionServiceMethodDescriptorSupplier
      extends ActionServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    ActionServiceMethodDescriptorSupplier(java.lang.String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (ActionServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new ActionServiceFileDescriptorSupplier())
              .addMethod(getIsolateMachineMethod())
              .addMethod(getReleaseMachineMethod())
              .addMethod(getRunAntivirusScanMethod())
              .addMethod(getGetMachineActionMethod())
              .addMethod(getListMachineActionsMethod())
              .addMethod(getWatchMachineActionMethod())
              .addMethod(getCancelMachineActionMethod())
              .build();
        }
      }
    }
    return result;
  }
}
