//! Client-certificate callers end to end: a service with TLS, required client certificates and
//! a callers file with a `[[certificate]]` entry. The verified certificate's identity (its URI
//! SAN) is the caller: it gets its roles, is stamped on the Defender action, and a certificate
//! from the trusted CA whose identity is not listed is refused before Defender.

mod common;

use std::net::SocketAddr;

use common::actions::{isolate, windows_machines};
use common::callers::reason;
use common::risk::by_id;
use common::tls::{Pki, channel, write};
use common::{TestEnv, sim_config};
use defender_bridge::demo::pki::Leaf;
use defender_bridge::proto::action_service_client::ActionServiceClient;
use defender_bridge::proto::risk_service_client::RiskServiceClient;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt as _;

const READER: &str = "spiffe://test/ns/analytics/sa/collector";
const RESPONDER: &str = "spiffe://test/ns/soar/sa/playbooks";

async fn tls_channel(pki: &Pki, addr: SocketAddr, leaf: &Leaf) -> Channel {
    channel(addr, &pki.ca.cert_pem, Some(leaf))
        .await
        .expect("mTLS connect")
}

#[tokio::test]
async fn certificate_identities_get_their_roles_and_are_stamped_on_actions() {
    let pki = Pki::new();
    write(
        &pki.path("callers.toml"),
        &format!(
            "[[certificate]]\nidentity = \"{READER}\"\nroles = [\"reader\"]\n\n\
             [[certificate]]\nidentity = \"{RESPONDER}\"\nroles = [\"responder\"]\n"
        ),
    );
    let callers = pki.path("callers.toml");
    let env = TestEnv::start_with(sim_config(), |args| {
        pki.apply(args, true);
        args.callers = Some(callers);
    })
    .await;
    let addr = env.server.addr;
    let reader = pki.ca.client("collector", Some(READER)).expect("cert");
    let responder = pki.ca.client("playbooks", Some(RESPONDER)).expect("cert");
    let stranger = pki
        .ca
        .client("stranger", Some("spiffe://test/ns/x/sa/unknown"))
        .expect("cert");
    let machine = windows_machines(&env.sim, 1)[0].clone();

    // The reader reads.
    let risk = RiskServiceClient::new(tls_channel(&pki, addr, &reader).await)
        .get_endpoint_risk(by_id(&machine))
        .await;
    assert!(risk.is_ok(), "{risk:?}");

    // The reader may not act: refused by role, before Defender.
    let before = env.sim.requests().len();
    let denied = ActionServiceClient::new(tls_channel(&pki, addr, &reader).await)
        .isolate_machine(isolate(&machine, "contain", "m-1"))
        .await
        .expect_err("a reader cannot isolate");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert_eq!(reason(&denied), "CALLER_NOT_AUTHORIZED");
    let info = denied.get_details_error_info().expect("ErrorInfo");
    assert_eq!(
        info.metadata.get("required_role").map(String::as_str),
        Some("responder")
    );

    // A certificate the CA signed but the callers file does not list: not authenticated.
    let unknown = RiskServiceClient::new(tls_channel(&pki, addr, &stranger).await)
        .get_endpoint_risk(by_id(&machine))
        .await
        .expect_err("an unlisted identity is refused");
    assert_eq!(unknown.code(), Code::Unauthenticated, "{unknown:?}");
    assert_eq!(reason(&unknown), "CALLER_NOT_AUTHENTICATED");
    let isolates = |env: &TestEnv| {
        env.sim
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/isolate"))
            .count()
    };
    assert_eq!(isolates(&env), 0, "nothing denied reached Defender");
    assert!(env.sim.requests().len() >= before);

    // The responder acts, and the stamp names its certificate identity.
    let action = ActionServiceClient::new(tls_channel(&pki, addr, &responder).await)
        .isolate_machine(isolate(&machine, "contain", "m-2"))
        .await
        .expect("the responder isolates")
        .into_inner();
    let comment = &action.requestor_comment;
    assert!(
        comment.contains(&format!("caller=cert:{RESPONDER}")),
        "{comment}"
    );
    assert!(!comment.contains("unverified"), "{comment}");
    assert_eq!(isolates(&env), 1);
    env.stop().await;
}
