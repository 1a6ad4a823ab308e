//! The service's surface over real gRPC: health (overall and per service), reflection v1 and
//! v1alpha, the disabled switch and the tenant gate. (Every RPC is implemented now, so the
//! UNIMPLEMENTED check went with the last one.)

mod common;

use common::{TestEnv, connect, sim_config};
use defender_bridge::config::{Config, ServeArgs};
use defender_bridge::proto;
use defender_bridge::server;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

const SERVICES: [&str; 2] = [
    "defenderbridge.v1.RiskService",
    "defenderbridge.v1.ActionService",
];

async fn health_of(channel: tonic::transport::Channel, service: &str) -> i32 {
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health check")
        .into_inner()
        .status
}

#[tokio::test]
async fn health_reports_serving_overall_and_per_service() {
    let env = TestEnv::start(sim_config()).await;
    assert_eq!(
        health_of(env.channel.clone(), "").await,
        ServingStatus::Serving as i32
    );
    for s in SERVICES {
        assert_eq!(
            health_of(env.channel.clone(), s).await,
            ServingStatus::Serving as i32,
            "{s}"
        );
    }
    env.stop().await;
}

#[tokio::test]
async fn reflection_v1_lists_both_services_and_health() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let env = TestEnv::start(sim_config()).await;
    let mut client = ServerReflectionClient::new(env.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .expect("reflection")
        .into_inner();
    let response = stream.next().await.expect("one answer").expect("ok");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for s in SERVICES.iter().chain(&["grpc.health.v1.Health"]) {
        assert!(names.iter().any(|n| n == s), "{s} missing from {names:?}");
    }
    env.stop().await;
}

#[tokio::test]
async fn reflection_v1alpha_serves_the_api_descriptors() {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let env = TestEnv::start(sim_config()).await;
    let mut client = ServerReflectionClient::new(env.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "defenderbridge.v1.RiskService".into(),
        )),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .expect("reflection")
        .into_inner();
    let response = stream.next().await.expect("one answer").expect("ok");
    match response.message_response {
        Some(MessageResponse::FileDescriptorResponse(fds)) => {
            assert!(!fds.file_descriptor_proto.is_empty())
        }
        other => panic!("unexpected reflection answer: {other:?}"),
    }
    env.stop().await;
}

#[tokio::test]
async fn disabled_integration_is_not_serving_and_says_so() {
    let args = ServeArgs {
        enabled: Some(false),
        listen: Some("127.0.0.1:0".parse().expect("addr")),
        ..ServeArgs::default()
    };
    let running = server::spawn(Config::resolve(&args).expect("config"))
        .await
        .expect("starts");
    let channel = connect(running.addr).await;
    assert_eq!(
        health_of(channel.clone(), "").await,
        ServingStatus::NotServing as i32
    );
    for s in SERVICES {
        assert_eq!(
            health_of(channel.clone(), s).await,
            ServingStatus::NotServing as i32
        );
    }
    let err = proto::risk_service_client::RiskServiceClient::new(channel)
        .check_connection(proto::CheckConnectionRequest::default())
        .await
        .expect_err("disabled");
    assert_eq!(err.code(), Code::FailedPrecondition);
    let info = err
        .get_error_details()
        .error_info()
        .cloned()
        .expect("error info");
    assert_eq!(info.reason, "INTEGRATION_DISABLED");
    assert_eq!(info.domain, "defenderbridge");
    running.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_unknown_tenant_is_invalid_argument() {
    let env = TestEnv::start(sim_config()).await;
    let err = env
        .risk()
        .check_connection(proto::CheckConnectionRequest {
            tenant: "some-other-tenant".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown tenant");
    assert_eq!(err.code(), Code::InvalidArgument);
    let details = err.get_error_details();
    assert_eq!(
        details.error_info().map(|i| i.reason.as_str()),
        Some("INVALID_FIELD")
    );
    assert_eq!(
        details
            .bad_request()
            .map(|b| b.field_violations[0].field.as_str()),
        Some("tenant")
    );
    env.stop().await;
}
