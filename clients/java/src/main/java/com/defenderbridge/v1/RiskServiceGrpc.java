package com.defenderbridge.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * Reads endpoint risk and the Defender entities behind it. Callers need the `reader` role, and
 * `admin` for CheckConnection. Every RPC is read-only and safe to retry.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class RiskServiceGrpc {

  private RiskServiceGrpc() {}

  public static final java.lang.String SERVICE_NAME = "defenderbridge.v1.RiskService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.GetEndpointRiskRequest,
      com.defenderbridge.v1.EndpointRisk> getGetEndpointRiskMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetEndpointRisk",
      requestType = com.defenderbridge.v1.GetEndpointRiskRequest.class,
      responseType = com.defenderbridge.v1.EndpointRisk.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.GetEndpointRiskRequest,
      com.defenderbridge.v1.EndpointRisk> getGetEndpointRiskMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.GetEndpointRiskRequest, com.defenderbridge.v1.EndpointRisk> getGetEndpointRiskMethod;
    if ((getGetEndpointRiskMethod = RiskServiceGrpc.getGetEndpointRiskMethod) == null) {
      synchronized (RiskServiceGrpc.class) {
        if ((getGetEndpointRiskMethod = RiskServiceGrpc.getGetEndpointRiskMethod) == null) {
          RiskServiceGrpc.getGetEndpointRiskMethod = getGetEndpointRiskMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.GetEndpointRiskRequest, com.defenderbridge.v1.EndpointRisk>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetEndpointRisk"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.GetEndpointRiskRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.EndpointRisk.getDefaultInstance()))
              .setSchemaDescriptor(new RiskServiceMethodDescriptorSupplier("GetEndpointRisk"))
              .build();
        }
      }
    }
    return getGetEndpointRiskMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.BatchGetEndpointRisksRequest,
      com.defenderbridge.v1.BatchGetEndpointRisksResponse> getBatchGetEndpointRisksMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "BatchGetEndpointRisks",
      requestType = com.defenderbridge.v1.BatchGetEndpointRisksRequest.class,
      responseType = com.defenderbridge.v1.BatchGetEndpointRisksResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.BatchGetEndpointRisksRequest,
      com.defenderbridge.v1.BatchGetEndpointRisksResponse> getBatchGetEndpointRisksMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.BatchGetEndpointRisksRequest, com.defenderbridge.v1.BatchGetEndpointRisksResponse> getBatchGetEndpointRisksMethod;
    if ((getBatchGetEndpointRisksMethod = RiskServiceGrpc.getBatchGetEndpointRisksMethod) == null) {
      synchronized (RiskServiceGrpc.class) {
        if ((getBatchGetEndpointRisksMethod = RiskServiceGrpc.getBatchGetEndpointRisksMethod) == null) {
          RiskServiceGrpc.getBatchGetEndpointRisksMethod = getBatchGetEndpointRisksMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.BatchGetEndpointRisksRequest, com.defenderbridge.v1.BatchGetEndpointRisksResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "BatchGetEndpointRisks"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.BatchGetEndpointRisksRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.BatchGetEndpointRisksResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RiskServiceMethodDescriptorSupplier("BatchGetEndpointRisks"))
              .build();
        }
      }
    }
    return getBatchGetEndpointRisksMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.StreamFleetRiskRequest,
      com.defenderbridge.v1.StreamFleetRiskResponse> getStreamFleetRiskMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "StreamFleetRisk",
      requestType = com.defenderbridge.v1.StreamFleetRiskRequest.class,
      responseType = com.defenderbridge.v1.StreamFleetRiskResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.StreamFleetRiskRequest,
      com.defenderbridge.v1.StreamFleetRiskResponse> getStreamFleetRiskMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.StreamFleetRiskRequest, com.defenderbridge.v1.StreamFleetRiskResponse> getStreamFleetRiskMethod;
    if ((getStreamFleetRiskMethod = RiskServiceGrpc.getStreamFleetRiskMethod) == null) {
      synchronized (RiskServiceGrpc.class) {
        if ((getStreamFleetRiskMethod = RiskServiceGrpc.getStreamFleetRiskMethod) == null) {
          RiskServiceGrpc.getStreamFleetRiskMethod = getStreamFleetRiskMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.StreamFleetRiskRequest, com.defenderbridge.v1.StreamFleetRiskResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "StreamFleetRisk"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.StreamFleetRiskRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.StreamFleetRiskResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RiskServiceMethodDescriptorSupplier("StreamFleetRisk"))
              .build();
        }
      }
    }
    return getStreamFleetRiskMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.GetMachineRequest,
      com.defenderbridge.v1.Machine> getGetMachineMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetMachine",
      requestType = com.defenderbridge.v1.GetMachineRequest.class,
      responseType = com.defenderbridge.v1.Machine.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.GetMachineRequest,
      com.defenderbridge.v1.Machine> getGetMachineMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.GetMachineRequest, com.defenderbridge.v1.Machine> getGetMachineMethod;
    if ((getGetMachineMethod = RiskServiceGrpc.getGetMachineMethod) == null) {
      synchronized (RiskServiceGrpc.class) {
        if ((getGetMachineMethod = RiskServiceGrpc.getGetMachineMethod) == null) {
          RiskServiceGrpc.getGetMachineMethod = getGetMachineMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.GetMachineRequest, com.defenderbridge.v1.Machine>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetMachine"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.GetMachineRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.Machine.getDefaultInstance()))
              .setSchemaDescriptor(new RiskServiceMethodDescriptorSupplier("GetMachine"))
              .build();
        }
      }
    }
    return getGetMachineMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.ListMachinesRequest,
      com.defenderbridge.v1.ListMachinesResponse> getListMachinesMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListMachines",
      requestType = com.defenderbridge.v1.ListMachinesRequest.class,
      responseType = com.defenderbridge.v1.ListMachinesResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.ListMachinesRequest,
      com.defenderbridge.v1.ListMachinesResponse> getListMachinesMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.ListMachinesRequest, com.defenderbridge.v1.ListMachinesResponse> getListMachinesMethod;
    if ((getListMachinesMethod = RiskServiceGrpc.getListMachinesMethod) == null) {
      synchronized (RiskServiceGrpc.class) {
        if ((getListMachinesMethod = RiskServiceGrpc.getListMachinesMethod) == null) {
          RiskServiceGrpc.getListMachinesMethod = getListMachinesMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.ListMachinesRequest, com.defenderbridge.v1.ListMachinesResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListMachines"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.ListMachinesRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.ListMachinesResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RiskServiceMethodDescriptorSupplier("ListMachines"))
              .build();
        }
      }
    }
    return getListMachinesMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.ListAlertsRequest,
      com.defenderbridge.v1.ListAlertsResponse> getListAlertsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListAlerts",
      requestType = com.defenderbridge.v1.ListAlertsRequest.class,
      responseType = com.defenderbridge.v1.ListAlertsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.ListAlertsRequest,
      com.defenderbridge.v1.ListAlertsResponse> getListAlertsMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.ListAlertsRequest, com.defenderbridge.v1.ListAlertsResponse> getListAlertsMethod;
    if ((getListAlertsMethod = RiskServiceGrpc.getListAlertsMethod) == null) {
      synchronized (RiskServiceGrpc.class) {
        if ((getListAlertsMethod = RiskServiceGrpc.getListAlertsMethod) == null) {
          RiskServiceGrpc.getListAlertsMethod = getListAlertsMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.ListAlertsRequest, com.defenderbridge.v1.ListAlertsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListAlerts"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.ListAlertsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.ListAlertsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RiskServiceMethodDescriptorSupplier("ListAlerts"))
              .build();
        }
      }
    }
    return getListAlertsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.ListVulnerabilitiesRequest,
      com.defenderbridge.v1.ListVulnerabilitiesResponse> getListVulnerabilitiesMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListVulnerabilities",
      requestType = com.defenderbridge.v1.ListVulnerabilitiesRequest.class,
      responseType = com.defenderbridge.v1.ListVulnerabilitiesResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.ListVulnerabilitiesRequest,
      com.defenderbridge.v1.ListVulnerabilitiesResponse> getListVulnerabilitiesMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.ListVulnerabilitiesRequest, com.defenderbridge.v1.ListVulnerabilitiesResponse> getListVulnerabilitiesMethod;
    if ((getListVulnerabilitiesMethod = RiskServiceGrpc.getListVulnerabilitiesMethod) == null) {
      synchronized (RiskServiceGrpc.class) {
        if ((getListVulnerabilitiesMethod = RiskServiceGrpc.getListVulnerabilitiesMethod) == null) {
          RiskServiceGrpc.getListVulnerabilitiesMethod = getListVulnerabilitiesMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.ListVulnerabilitiesRequest, com.defenderbridge.v1.ListVulnerabilitiesResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListVulnerabilities"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.ListVulnerabilitiesRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.ListVulnerabilitiesResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RiskServiceMethodDescriptorSupplier("ListVulnerabilities"))
              .build();
        }
      }
    }
    return getListVulnerabilitiesMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.GetSoftwareRequest,
      com.defenderbridge.v1.Software> getGetSoftwareMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetSoftware",
      requestType = com.defenderbridge.v1.GetSoftwareRequest.class,
      responseType = com.defenderbridge.v1.Software.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.GetSoftwareRequest,
      com.defenderbridge.v1.Software> getGetSoftwareMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.GetSoftwareRequest, com.defenderbridge.v1.Software> getGetSoftwareMethod;
    if ((getGetSoftwareMethod = RiskServiceGrpc.getGetSoftwareMethod) == null) {
      synchronized (RiskServiceGrpc.class) {
        if ((getGetSoftwareMethod = RiskServiceGrpc.getGetSoftwareMethod) == null) {
          RiskServiceGrpc.getGetSoftwareMethod = getGetSoftwareMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.GetSoftwareRequest, com.defenderbridge.v1.Software>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetSoftware"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.GetSoftwareRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.Software.getDefaultInstance()))
              .setSchemaDescriptor(new RiskServiceMethodDescriptorSupplier("GetSoftware"))
              .build();
        }
      }
    }
    return getGetSoftwareMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.ListSoftwareMachinesRequest,
      com.defenderbridge.v1.ListSoftwareMachinesResponse> getListSoftwareMachinesMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListSoftwareMachines",
      requestType = com.defenderbridge.v1.ListSoftwareMachinesRequest.class,
      responseType = com.defenderbridge.v1.ListSoftwareMachinesResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.ListSoftwareMachinesRequest,
      com.defenderbridge.v1.ListSoftwareMachinesResponse> getListSoftwareMachinesMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.ListSoftwareMachinesRequest, com.defenderbridge.v1.ListSoftwareMachinesResponse> getListSoftwareMachinesMethod;
    if ((getListSoftwareMachinesMethod = RiskServiceGrpc.getListSoftwareMachinesMethod) == null) {
      synchronized (RiskServiceGrpc.class) {
        if ((getListSoftwareMachinesMethod = RiskServiceGrpc.getListSoftwareMachinesMethod) == null) {
          RiskServiceGrpc.getListSoftwareMachinesMethod = getListSoftwareMachinesMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.ListSoftwareMachinesRequest, com.defenderbridge.v1.ListSoftwareMachinesResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListSoftwareMachines"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.ListSoftwareMachinesRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.ListSoftwareMachinesResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RiskServiceMethodDescriptorSupplier("ListSoftwareMachines"))
              .build();
        }
      }
    }
    return getListSoftwareMachinesMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.RunHuntingQueryRequest,
      com.defenderbridge.v1.RunHuntingQueryResponse> getRunHuntingQueryMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "RunHuntingQuery",
      requestType = com.defenderbridge.v1.RunHuntingQueryRequest.class,
      responseType = com.defenderbridge.v1.RunHuntingQueryResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.RunHuntingQueryRequest,
      com.defenderbridge.v1.RunHuntingQueryResponse> getRunHuntingQueryMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.RunHuntingQueryRequest, com.defenderbridge.v1.RunHuntingQueryResponse> getRunHuntingQueryMethod;
    if ((getRunHuntingQueryMethod = RiskServiceGrpc.getRunHuntingQueryMethod) == null) {
      synchronized (RiskServiceGrpc.class) {
        if ((getRunHuntingQueryMethod = RiskServiceGrpc.getRunHuntingQueryMethod) == null) {
          RiskServiceGrpc.getRunHuntingQueryMethod = getRunHuntingQueryMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.RunHuntingQueryRequest, com.defenderbridge.v1.RunHuntingQueryResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "RunHuntingQuery"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.RunHuntingQueryRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.RunHuntingQueryResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RiskServiceMethodDescriptorSupplier("RunHuntingQuery"))
              .build();
        }
      }
    }
    return getRunHuntingQueryMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.defenderbridge.v1.CheckConnectionRequest,
      com.defenderbridge.v1.CheckConnectionResponse> getCheckConnectionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CheckConnection",
      requestType = com.defenderbridge.v1.CheckConnectionRequest.class,
      responseType = com.defenderbridge.v1.CheckConnectionResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.defenderbridge.v1.CheckConnectionRequest,
      com.defenderbridge.v1.CheckConnectionResponse> getCheckConnectionMethod() {
    io.grpc.MethodDescriptor<com.defenderbridge.v1.CheckConnectionRequest, com.defenderbridge.v1.CheckConnectionResponse> getCheckConnectionMethod;
    if ((getCheckConnectionMethod = RiskServiceGrpc.getCheckConnectionMethod) == null) {
      synchronized (RiskServiceGrpc.class) {
        if ((getCheckConnectionMethod = RiskServiceGrpc.getCheckConnectionMethod) == null) {
          RiskServiceGrpc.getCheckConnectionMethod = getCheckConnectionMethod =
              io.grpc.MethodDescriptor.<com.defenderbridge.v1.CheckConnectionRequest, com.defenderbridge.v1.CheckConnectionResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CheckConnection"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.CheckConnectionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.defenderbridge.v1.CheckConnectionResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RiskServiceMethodDescriptorSupplier("CheckConnection"))
              .build();
        }
      }
    }
    return getCheckConnectionMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static RiskServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<RiskServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<RiskServiceStub>() {
        @java.lang.Override
        public RiskServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new RiskServiceStub(channel, callOptions);
        }
      };
    return RiskServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static RiskServiceBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<RiskServiceBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<RiskServiceBlockingV2Stub>() {
        @java.lang.Override
        public RiskServiceBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new RiskServiceBlockingV2Stub(channel, callOptions);
        }
      };
    return RiskServiceBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static RiskServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<RiskServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<RiskServiceBlockingStub>() {
        @java.lang.Override
        public RiskServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new RiskServiceBlockingStub(channel, callOptions);
        }
      };
    return RiskServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static RiskServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<RiskServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<RiskServiceFutureStub>() {
        @java.lang.Override
        public RiskServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new RiskServiceFutureStub(channel, callOptions);
        }
      };
    return RiskServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * Reads endpoint risk and the Defender entities behind it. Callers need the `reader` role, and
   * `admin` for CheckConnection. Every RPC is read-only and safe to retry.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * Returns one endpoint's risk, looked up by Defender machine id, IP address or hostname.
     * Served from the cache unless `bypass_cache` is set. NOT_FOUND when no machine matches.
     * </pre>
     */
    default void getEndpointRisk(com.defenderbridge.v1.GetEndpointRiskRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.EndpointRisk> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetEndpointRiskMethod(), responseObserver);
    }

    /**
     * <pre>
     * Returns the risk of up to 1,000 endpoints in one call, each with its own result or error.
     * The call itself fails only for problems of the whole batch (too many items, authentication,
     * integration disabled).
     * </pre>
     */
    default void batchGetEndpointRisks(com.defenderbridge.v1.BatchGetEndpointRisksRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.BatchGetEndpointRisksResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getBatchGetEndpointRisksMethod(), responseObserver);
    }

    /**
     * <pre>
     * Streams every machine's risk, computed from Defender's bulk list APIs (not one call per
     * machine), then one summary that says whether the stream covered the whole fleet.
     * </pre>
     */
    default void streamFleetRisk(com.defenderbridge.v1.StreamFleetRiskRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.StreamFleetRiskResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getStreamFleetRiskMethod(), responseObserver);
    }

    /**
     * <pre>
     * Returns one Defender machine by id. NOT_FOUND when Defender does not know it.
     * </pre>
     */
    default void getMachine(com.defenderbridge.v1.GetMachineRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.Machine> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetMachineMethod(), responseObserver);
    }

    /**
     * <pre>
     * Lists Defender machines, with filters and pagination.
     * </pre>
     */
    default void listMachines(com.defenderbridge.v1.ListMachinesRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.ListMachinesResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListMachinesMethod(), responseObserver);
    }

    /**
     * <pre>
     * Lists alerts, of the whole tenant or of one machine, with severity and status filters and
     * pagination.
     * </pre>
     */
    default void listAlerts(com.defenderbridge.v1.ListAlertsRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.ListAlertsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListAlertsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Lists vulnerabilities, of the whole tenant or of one machine, with pagination.
     * </pre>
     */
    default void listVulnerabilities(com.defenderbridge.v1.ListVulnerabilitiesRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.ListVulnerabilitiesResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListVulnerabilitiesMethod(), responseObserver);
    }

    /**
     * <pre>
     * Returns one software product by id. NOT_FOUND when Defender does not know it.
     * </pre>
     */
    default void getSoftware(com.defenderbridge.v1.GetSoftwareRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.Software> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetSoftwareMethod(), responseObserver);
    }

    /**
     * <pre>
     * Lists the machines that have a software product installed.
     * </pre>
     */
    default void listSoftwareMachines(com.defenderbridge.v1.ListSoftwareMachinesRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.ListSoftwareMachinesResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListSoftwareMachinesMethod(), responseObserver);
    }

    /**
     * <pre>
     * Runs an advanced hunting (KQL) query and streams the result: first the schema, then batches
     * of rows, then a summary. Results can exceed gRPC's 4 MiB message limit; the batches keep
     * each message under it. The backend (Microsoft Graph `runHuntingQuery` or Defender's
     * `advancedqueries/run`) is chosen in the server's configuration.
     * </pre>
     */
    default void runHuntingQuery(com.defenderbridge.v1.RunHuntingQueryRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.RunHuntingQueryResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getRunHuntingQueryMethod(), responseObserver);
    }

    /**
     * <pre>
     * Tests the connection to Defender: gets a token, reads the
     * granted application permissions from the token's `roles` claim, says which capabilities
     * work, and makes one cheap probe call. Problems are reported in the response, not as an
     * error, so that one call shows everything that needs fixing. Needs the `admin` role.
     * </pre>
     */
    default void checkConnection(com.defenderbridge.v1.CheckConnectionRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.CheckConnectionResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCheckConnectionMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service RiskService.
   * <pre>
   * Reads endpoint risk and the Defender entities behind it. Callers need the `reader` role, and
   * `admin` for CheckConnection. Every RPC is read-only and safe to retry.
   * </pre>
   */
  public static abstract class RiskServiceImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return RiskServiceGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service RiskService.
   * <pre>
   * Reads endpoint risk and the Defender entities behind it. Callers need the `reader` role, and
   * `admin` for CheckConnection. Every RPC is read-only and safe to retry.
   * </pre>
   */
  public static final class RiskServiceStub
      extends io.grpc.stub.AbstractAsyncStub<RiskServiceStub> {
    private RiskServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected RiskServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new RiskServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Returns one endpoint's risk, looked up by Defender machine id, IP address or hostname.
     * Served from the cache unless `bypass_cache` is set. NOT_FOUND when no machine matches.
     * </pre>
     */
    public void getEndpointRisk(com.defenderbridge.v1.GetEndpointRiskRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.EndpointRisk> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetEndpointRiskMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Returns the risk of up to 1,000 endpoints in one call, each with its own result or error.
     * The call itself fails only for problems of the whole batch (too many items, authentication,
     * integration disabled).
     * </pre>
     */
    public void batchGetEndpointRisks(com.defenderbridge.v1.BatchGetEndpointRisksRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.BatchGetEndpointRisksResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getBatchGetEndpointRisksMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Streams every machine's risk, computed from Defender's bulk list APIs (not one call per
     * machine), then one summary that says whether the stream covered the whole fleet.
     * </pre>
     */
    public void streamFleetRisk(com.defenderbridge.v1.StreamFleetRiskRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.StreamFleetRiskResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getStreamFleetRiskMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Returns one Defender machine by id. NOT_FOUND when Defender does not know it.
     * </pre>
     */
    public void getMachine(com.defenderbridge.v1.GetMachineRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.Machine> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetMachineMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Lists Defender machines, with filters and pagination.
     * </pre>
     */
    public void listMachines(com.defenderbridge.v1.ListMachinesRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.ListMachinesResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListMachinesMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Lists alerts, of the whole tenant or of one machine, with severity and status filters and
     * pagination.
     * </pre>
     */
    public void listAlerts(com.defenderbridge.v1.ListAlertsRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.ListAlertsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListAlertsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Lists vulnerabilities, of the whole tenant or of one machine, with pagination.
     * </pre>
     */
    public void listVulnerabilities(com.defenderbridge.v1.ListVulnerabilitiesRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.ListVulnerabilitiesResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListVulnerabilitiesMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Returns one software product by id. NOT_FOUND when Defender does not know it.
     * </pre>
     */
    public void getSoftware(com.defenderbridge.v1.GetSoftwareRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.Software> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetSoftwareMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Lists the machines that have a software product installed.
     * </pre>
     */
    public void listSoftwareMachines(com.defenderbridge.v1.ListSoftwareMachinesRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.ListSoftwareMachinesResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListSoftwareMachinesMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Runs an advanced hunting (KQL) query and streams the result: first the schema, then batches
     * of rows, then a summary. Results can exceed gRPC's 4 MiB message limit; the batches keep
     * each message under it. The backend (Microsoft Graph `runHuntingQuery` or Defender's
     * `advancedqueries/run`) is chosen in the server's configuration.
     * </pre>
     */
    public void runHuntingQuery(com.defenderbridge.v1.RunHuntingQueryRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.RunHuntingQueryResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getRunHuntingQueryMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Tests the connection to Defender: gets a token, reads the
     * granted application permissions from the token's `roles` claim, says which capabilities
     * work, and makes one cheap probe call. Problems are reported in the response, not as an
     * error, so that one call shows everything that needs fixing. Needs the `admin` role.
     * </pre>
     */
    public void checkConnection(com.defenderbridge.v1.CheckConnectionRequest request,
        io.grpc.stub.StreamObserver<com.defenderbridge.v1.CheckConnectionResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCheckConnectionMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service RiskService.
   * <pre>
   * Reads endpoint risk and the Defender entities behind it. Callers need the `reader` role, and
   * `admin` for CheckConnection. Every RPC is read-only and safe to retry.
   * </pre>
   */
  public static final class RiskServiceBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<RiskServiceBlockingV2Stub> {
    private RiskServiceBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected RiskServiceBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new RiskServiceBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * Returns one endpoint's risk, looked up by Defender machine id, IP address or hostname.
     * Served from the cache unless `bypass_cache` is set. NOT_FOUND when no machine matches.
     * </pre>
     */
    public com.defenderbridge.v1.EndpointRisk getEndpointRisk(com.defenderbridge.v1.GetEndpointRiskRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGetEndpointRiskMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Returns the risk of up to 1,000 endpoints in one call, each with its own result or error.
     * The call itself fails only for problems of the whole batch (too many items, authentication,
     * integration disabled).
     * </pre>
     */
    public com.defenderbridge.v1.BatchGetEndpointRisksResponse batchGetEndpointRisks(com.defenderbridge.v1.BatchGetEndpointRisksRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getBatchGetEndpointRisksMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Streams every machine's risk, computed from Defender's bulk list APIs (not one call per
     * machine), then one summary that says whether the stream covered the whole fleet.
     * </pre>
     */
    @io.grpc.ExperimentalApi("https://github.com/grpc/grpc-java/issues/10918")
    public io.grpc.stub.BlockingClientCall<?, com.defenderbridge.v1.StreamFleetRiskResponse>
        streamFleetRisk(com.defenderbridge.v1.StreamFleetRiskRequest request) {
      return io.grpc.stub.ClientCalls.blockingV2ServerStreamingCall(
          getChannel(), getStreamFleetRiskMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Returns one Defender machine by id. NOT_FOUND when Defender does not know it.
     * </pre>
     */
    public com.defenderbridge.v1.Machine getMachine(com.defenderbridge.v1.GetMachineRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGetMachineMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists Defender machines, with filters and pagination.
     * </pre>
     */
    public com.defenderbridge.v1.ListMachinesResponse listMachines(com.defenderbridge.v1.ListMachinesRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListMachinesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists alerts, of the whole tenant or of one machine, with severity and status filters and
     * pagination.
     * </pre>
     */
    public com.defenderbridge.v1.ListAlertsResponse listAlerts(com.defenderbridge.v1.ListAlertsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListAlertsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists vulnerabilities, of the whole tenant or of one machine, with pagination.
     * </pre>
     */
    public com.defenderbridge.v1.ListVulnerabilitiesResponse listVulnerabilities(com.defenderbridge.v1.ListVulnerabilitiesRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListVulnerabilitiesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Returns one software product by id. NOT_FOUND when Defender does not know it.
     * </pre>
     */
    public com.defenderbridge.v1.Software getSoftware(com.defenderbridge.v1.GetSoftwareRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGetSoftwareMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists the machines that have a software product installed.
     * </pre>
     */
    public com.defenderbridge.v1.ListSoftwareMachinesResponse listSoftwareMachines(com.defenderbridge.v1.ListSoftwareMachinesRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListSoftwareMachinesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Runs an advanced hunting (KQL) query and streams the result: first the schema, then batches
     * of rows, then a summary. Results can exceed gRPC's 4 MiB message limit; the batches keep
     * each message under it. The backend (Microsoft Graph `runHuntingQuery` or Defender's
     * `advancedqueries/run`) is chosen in the server's configuration.
     * </pre>
     */
    @io.grpc.ExperimentalApi("https://github.com/grpc/grpc-java/issues/10918")
    public io.grpc.stub.BlockingClientCall<?, com.defenderbridge.v1.RunHuntingQueryResponse>
        runHuntingQuery(com.defenderbridge.v1.RunHuntingQueryRequest request) {
      return io.grpc.stub.ClientCalls.blockingV2ServerStreamingCall(
          getChannel(), getRunHuntingQueryMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Tests the connection to Defender: gets a token, reads the
     * granted application permissions from the token's `roles` claim, says which capabilities
     * work, and makes one cheap probe call. Problems are reported in the response, not as an
     * error, so that one call shows everything that needs fixing. Needs the `admin` role.
     * </pre>
     */
    public com.defenderbridge.v1.CheckConnectionResponse checkConnection(com.defenderbridge.v1.CheckConnectionRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getCheckConnectionMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service RiskService.
   * <pre>
   * Reads endpoint risk and the Defender entities behind it. Callers need the `reader` role, and
   * `admin` for CheckConnection. Every RPC is read-only and safe to retry.
   * </pre>
   */
  public static final class RiskServiceBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<RiskServiceBlockingStub> {
    private RiskServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected RiskServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new RiskServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Returns one endpoint's risk, looked up by Defender machine id, IP address or hostname.
     * Served from the cache unless `bypass_cache` is set. NOT_FOUND when no machine matches.
     * </pre>
     */
    public com.defenderbridge.v1.EndpointRisk getEndpointRisk(com.defenderbridge.v1.GetEndpointRiskRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetEndpointRiskMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Returns the risk of up to 1,000 endpoints in one call, each with its own result or error.
     * The call itself fails only for problems of the whole batch (too many items, authentication,
     * integration disabled).
     * </pre>
     */
    public com.defenderbridge.v1.BatchGetEndpointRisksResponse batchGetEndpointRisks(com.defenderbridge.v1.BatchGetEndpointRisksRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getBatchGetEndpointRisksMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Streams every machine's risk, computed from Defender's bulk list APIs (not one call per
     * machine), then one summary that says whether the stream covered the whole fleet.
     * </pre>
     */
    public java.util.Iterator<com.defenderbridge.v1.StreamFleetRiskResponse> streamFleetRisk(
        com.defenderbridge.v1.StreamFleetRiskRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getStreamFleetRiskMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Returns one Defender machine by id. NOT_FOUND when Defender does not know it.
     * </pre>
     */
    public com.defenderbridge.v1.Machine getMachine(com.defenderbridge.v1.GetMachineRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetMachineMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists Defender machines, with filters and pagination.
     * </pre>
     */
    public com.defenderbridge.v1.ListMachinesResponse listMachines(com.defenderbridge.v1.ListMachinesRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListMachinesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists alerts, of the whole tenant or of one machine, with severity and status filters and
     * pagination.
     * </pre>
     */
    public com.defenderbridge.v1.ListAlertsResponse listAlerts(com.defenderbridge.v1.ListAlertsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListAlertsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists vulnerabilities, of the whole tenant or of one machine, with pagination.
     * </pre>
     */
    public com.defenderbridge.v1.ListVulnerabilitiesResponse listVulnerabilities(com.defenderbridge.v1.ListVulnerabilitiesRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListVulnerabilitiesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Returns one software product by id. NOT_FOUND when Defender does not know it.
     * </pre>
     */
    public com.defenderbridge.v1.Software getSoftware(com.defenderbridge.v1.GetSoftwareRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetSoftwareMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists the machines that have a software product installed.
     * </pre>
     */
    public com.defenderbridge.v1.ListSoftwareMachinesResponse listSoftwareMachines(com.defenderbridge.v1.ListSoftwareMachinesRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListSoftwareMachinesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Runs an advanced hunting (KQL) query and streams the result: first the schema, then batches
     * of rows, then a summary. Results can exceed gRPC's 4 MiB message limit; the batches keep
     * each message under it. The backend (Microsoft Graph `runHuntingQuery` or Defender's
     * `advancedqueries/run`) is chosen in the server's configuration.
     * </pre>
     */
    public java.util.Iterator<com.defenderbridge.v1.RunHuntingQueryResponse> runHuntingQuery(
        com.defenderbridge.v1.RunHuntingQueryRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getRunHuntingQueryMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Tests the connection to Defender: gets a token, reads the
     * granted application permissions from the token's `roles` claim, says which capabilities
     * work, and makes one cheap probe call. Problems are reported in the response, not as an
     * error, so that one call shows everything that needs fixing. Needs the `admin` role.
     * </pre>
     */
    public com.defenderbridge.v1.CheckConnectionResponse checkConnection(com.defenderbridge.v1.CheckConnectionRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCheckConnectionMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service RiskService.
   * <pre>
   * Reads endpoint risk and the Defender entities behind it. Callers need the `reader` role, and
   * `admin` for CheckConnection. Every RPC is read-only and safe to retry.
   * </pre>
   */
  public static final class RiskServiceFutureStub
      extends io.grpc.stub.AbstractFutureStub<RiskServiceFutureStub> {
    private RiskServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected RiskServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new RiskServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Returns one endpoint's risk, looked up by Defender machine id, IP address or hostname.
     * Served from the cache unless `bypass_cache` is set. NOT_FOUND when no machine matches.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.defenderbridge.v1.EndpointRisk> getEndpointRisk(
        com.defenderbridge.v1.GetEndpointRiskRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetEndpointRiskMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Returns the risk of up to 1,000 endpoints in one call, each with its own result or error.
     * The call itself fails only for problems of the whole batch (too many items, authentication,
     * integration disabled).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.defenderbridge.v1.BatchGetEndpointRisksResponse> batchGetEndpointRisks(
        com.defenderbridge.v1.BatchGetEndpointRisksRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getBatchGetEndpointRisksMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Returns one Defender machine by id. NOT_FOUND when Defender does not know it.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.defenderbridge.v1.Machine> getMachine(
        com.defenderbridge.v1.GetMachineRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetMachineMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Lists Defender machines, with filters and pagination.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.defenderbridge.v1.ListMachinesResponse> listMachines(
        com.defenderbridge.v1.ListMachinesRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListMachinesMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Lists alerts, of the whole tenant or of one machine, with severity and status filters and
     * pagination.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.defenderbridge.v1.ListAlertsResponse> listAlerts(
        com.defenderbridge.v1.ListAlertsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListAlertsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Lists vulnerabilities, of the whole tenant or of one machine, with pagination.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.defenderbridge.v1.ListVulnerabilitiesResponse> listVulnerabilities(
        com.defenderbridge.v1.ListVulnerabilitiesRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListVulnerabilitiesMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Returns one software product by id. NOT_FOUND when Defender does not know it.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.defenderbridge.v1.Software> getSoftware(
        com.defenderbridge.v1.GetSoftwareRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetSoftwareMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Lists the machines that have a software product installed.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.defenderbridge.v1.ListSoftwareMachinesResponse> listSoftwareMachines(
        com.defenderbridge.v1.ListSoftwareMachinesRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListSoftwareMachinesMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Tests the connection to Defender: gets a token, reads the
     * granted application permissions from the token's `roles` claim, says which capabilities
     * work, and makes one cheap probe call. Problems are reported in the response, not as an
     * error, so that one call shows everything that needs fixing. Needs the `admin` role.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.defenderbridge.v1.CheckConnectionResponse> checkConnection(
        com.defenderbridge.v1.CheckConnectionRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCheckConnectionMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_GET_ENDPOINT_RISK = 0;
  private static final int METHODID_BATCH_GET_ENDPOINT_RISKS = 1;
  private static final int METHODID_STREAM_FLEET_RISK = 2;
  private static final int METHODID_GET_MACHINE = 3;
  private static final int METHODID_LIST_MACHINES = 4;
  private static final int METHODID_LIST_ALERTS = 5;
  private static final int METHODID_LIST_VULNERABILITIES = 6;
  private static final int METHODID_GET_SOFTWARE = 7;
  private static final int METHODID_LIST_SOFTWARE_MACHINES = 8;
  private static final int METHODID_RUN_HUNTING_QUERY = 9;
  private static final int METHODID_CHECK_CONNECTION = 10;

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
        case METHODID_GET_ENDPOINT_RISK:
          serviceImpl.getEndpointRisk((com.defenderbridge.v1.GetEndpointRiskRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.EndpointRisk>) responseObserver);
          break;
        case METHODID_BATCH_GET_ENDPOINT_RISKS:
          serviceImpl.batchGetEndpointRisks((com.defenderbridge.v1.BatchGetEndpointRisksRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.BatchGetEndpointRisksResponse>) responseObserver);
          break;
        case METHODID_STREAM_FLEET_RISK:
          serviceImpl.streamFleetRisk((com.defenderbridge.v1.StreamFleetRiskRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.StreamFleetRiskResponse>) responseObserver);
          break;
        case METHODID_GET_MACHINE:
          serviceImpl.getMachine((com.defenderbridge.v1.GetMachineRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.Machine>) responseObserver);
          break;
        case METHODID_LIST_MACHINES:
          serviceImpl.listMachines((com.defenderbridge.v1.ListMachinesRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.ListMachinesResponse>) responseObserver);
          break;
        case METHODID_LIST_ALERTS:
          serviceImpl.listAlerts((com.defenderbridge.v1.ListAlertsRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.ListAlertsResponse>) responseObserver);
          break;
        case METHODID_LIST_VULNERABILITIES:
          serviceImpl.listVulnerabilities((com.defenderbridge.v1.ListVulnerabilitiesRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.ListVulnerabilitiesResponse>) responseObserver);
          break;
        case METHODID_GET_SOFTWARE:
          serviceImpl.getSoftware((com.defenderbridge.v1.GetSoftwareRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.Software>) responseObserver);
          break;
        case METHODID_LIST_SOFTWARE_MACHINES:
          serviceImpl.listSoftwareMachines((com.defenderbridge.v1.ListSoftwareMachinesRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.ListSoftwareMachinesResponse>) responseObserver);
          break;
        case METHODID_RUN_HUNTING_QUERY:
          serviceImpl.runHuntingQuery((com.defenderbridge.v1.RunHuntingQueryRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.RunHuntingQueryResponse>) responseObserver);
          break;
        case METHODID_CHECK_CONNECTION:
          serviceImpl.checkConnection((com.defenderbridge.v1.CheckConnectionRequest) request,
              (io.grpc.stub.StreamObserver<com.defenderbridge.v1.CheckConnectionResponse>) responseObserver);
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
          getGetEndpointRiskMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              com.defenderbridge.v1.GetEndpointRiskRequest,
              com.defenderbridge.v1.EndpointRisk>(
                service, METHODID_GET_ENDPOINT_RISK)))
        .addMethod(
          getBatchGetEndpointRisksMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              com.defenderbridge.v1.BatchGetEndpointRisksRequest,
              com.defenderbridge.v1.BatchGetEndpointRisksResponse>(
                service, METHODID_BATCH_GET_ENDPOINT_RISKS)))
        .addMethod(
          getStreamFleetRiskMethod(),
          io.grpc.stub.ServerCalls.asyncServerStreamingCall(
            new MethodHandlers<
              com.defenderbridge.v1.StreamFleetRiskRequest,
              com.defenderbridge.v1.StreamFleetRiskResponse>(
                service, METHODID_STREAM_FLEET_RISK)))
        .addMethod(
          getGetMachineMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              com.defenderbridge.v1.GetMachineRequest,
              com.defenderbridge.v1.Machine>(
                service, METHODID_GET_MACHINE)))
        .addMethod(
          getListMachinesMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              com.defenderbridge.v1.ListMachinesRequest,
              com.defenderbridge.v1.ListMachinesResponse>(
                service, METHODID_LIST_MACHINES)))
        .addMethod(
          getListAlertsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              com.defenderbridge.v1.ListAlertsRequest,
              com.defenderbridge.v1.ListAlertsResponse>(
                service, METHODID_LIST_ALERTS)))
        .addMethod(
          getListVulnerabilitiesMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              com.defenderbridge.v1.ListVulnerabilitiesRequest,
              com.defenderbridge.v1.ListVulnerabilitiesResponse>(
                service, METHODID_LIST_VULNERABILITIES)))
        .addMethod(
          getGetSoftwareMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              com.defenderbridge.v1.GetSoftwareRequest,
              com.defenderbridge.v1.Software>(
                service, METHODID_GET_SOFTWARE)))
        .addMethod(
          getListSoftwareMachinesMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              com.defenderbridge.v1.ListSoftwareMachinesRequest,
              com.defenderbridge.v1.ListSoftwareMachinesResponse>(
                service, METHODID_LIST_SOFTWARE_MACHINES)))
        .addMethod(
          getRunHuntingQueryMethod(),
          io.grpc.stub.ServerCalls.asyncServerStreamingCall(
            new MethodHandlers<
              com.defenderbridge.v1.RunHuntingQueryRequest,
              com.defenderbridge.v1.RunHuntingQueryResponse>(
                service, METHODID_RUN_HUNTING_QUERY)))
        .addMethod(
          getCheckConnectionMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              com.defenderbridge.v1.CheckConnectionRequest,
              com.defenderbridge.v1.CheckConnectionResponse>(
                service, METHODID_CHECK_CONNECTION)))
        .build();
  }

  private static abstract class RiskServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    RiskServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return com.defenderbridge.v1.RiskServiceProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("RiskService");
    }
  }

  private static final class RiskServiceFileDescriptorSupplier
      extends RiskServiceBaseDescriptorSupplier {
    RiskServiceFileDescriptorSupplier() {}
  }

  private static final class RiskServiceMethodDescriptorSupplier
      extends RiskServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    RiskServiceMethodDescriptorSupplier(java.lang.String methodName) {
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
      synchronized (RiskServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new RiskServiceFileDescriptorSupplier())
              .addMethod(getGetEndpointRiskMethod())
              .addMethod(getBatchGetEndpointRisksMethod())
              .addMethod(getStreamFleetRiskMethod())
              .addMethod(getGetMachineMethod())
              .addMethod(getListMachinesMethod())
              .addMethod(getListAlertsMethod())
              .addMethod(getListVulnerabilitiesMethod())
              .addMethod(getGetSoftwareMethod())
              .addMethod(getListSoftwareMachinesMethod())
              .addMethod(getRunHuntingQueryMethod())
              .addMethod(getCheckConnectionMethod())
              .build();
        }
      }
    }
    return result;
  }
}
