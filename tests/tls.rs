//! TLS and mTLS on the gRPC listener, over real sockets with certificates generated here:
//! which handshakes succeed, which are refused and why, what handlers see of the client's
//! certificate, and start-up errors that name the file at fault.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use common::risk::by_id;
use common::tls::{Pki, channel, der, handshake, write};
use common::{sim_config, start_sim};
use defender_bridge::config::Config;
use defender_bridge::demo::service_args;
use defender_bridge::proto::risk_service_client::RiskServiceClient;
use defender_bridge::server::{self, RunningServer, ServerError, conn, tls};
use defender_bridge::sim::SimHandle;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use tonic::transport::server::TcpConnectInfo;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// The simulator and a TLS service (`mtls`: client certificates required) using `pki`.
async fn start(pki: &Pki, mtls: bool) -> (SimHandle, RunningServer) {
    let config = sim_config();
    let sim = start_sim(config.clone()).await;
    let mut args = service_args(&sim, &config, "127.0.0.1:0".parse().expect("addr"));
    pki.apply(&mut args, mtls);
    let server = server::spawn(Config::resolve(&args).expect("valid config"))
        .await
        .expect("server starts");
    (sim, server)
}

#[tokio::test]
async fn calls_work_over_tls_with_the_right_ca_and_fail_with_a_wrong_one() {
    let pki = Pki::new();
    let (sim, server) = start(&pki, false).await;
    let id = sim.fleet().sample_machine_id().to_string();
    let tls_channel = channel(server.addr, &pki.ca.cert_pem, None)
        .await
        .expect("TLS connect");
    let risk = RiskServiceClient::new(tls_channel)
        .get_endpoint_risk(by_id(&id))
        .await
        .expect("a call over TLS")
        .into_inner();
    assert_eq!(risk.machine.map(|m| m.id), Some(id));

    let seen = handshake(server.addr, &pki.ca.cert_pem, None)
        .await
        .expect("handshake");
    seen.served.expect("HTTP/2 spoken after the handshake");
    assert_eq!(seen.server_chain[0], der(&pki.server.cert_pem));

    let other = defender_bridge::demo::pki::Ca::new("another CA").expect("CA");
    let err = handshake(server.addr, &other.cert_pem, None)
        .await
        .err()
        .expect("a server certificate from another CA is refused");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    let refused = match channel(server.addr, &other.cert_pem, None).await {
        Err(_) => true,
        Ok(channel) => HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .is_err(),
    };
    assert!(refused, "a tonic client with the wrong CA cannot call");

    // Plaintext HTTP/2 to the TLS port is not served.
    let plain = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .expect("uri")
        .connect()
        .await;
    let refused = match plain {
        Err(_) => true,
        Ok(channel) => HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .is_err(),
    };
    assert!(refused, "plaintext is not spoken on a TLS listener");
    server.shutdown().await.expect("clean shutdown");
    sim.shutdown().await;
}

#[tokio::test]
async fn mtls_requires_a_valid_client_certificate() {
    let pki = Pki::new();
    let (sim, server) = start(&pki, true).await;
    let client = pki
        .ca
        .client("good-client", Some("spiffe://test/good"))
        .expect("client cert");
    let seen = handshake(server.addr, &pki.ca.cert_pem, Some(&client))
        .await
        .expect("handshake");
    seen.served.expect("a valid client certificate is accepted");
    let health = HealthClient::new(
        channel(server.addr, &pki.ca.cert_pem, Some(&client))
            .await
            .expect("connect"),
    )
    .check(HealthCheckRequest::default())
    .await;
    assert!(health.is_ok(), "{health:?}");

    // No certificate at all.
    let seen = handshake(server.addr, &pki.ca.cert_pem, None)
        .await
        .expect("the client side completes");
    let err = seen.served.expect_err("no client certificate: refused");
    assert!(err.to_string().contains("CertificateRequired"), "{err}");
    let refused = match channel(server.addr, &pki.ca.cert_pem, None).await {
        Err(_) => true,
        Ok(channel) => HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .is_err(),
    };
    assert!(refused, "a tonic client without a certificate cannot call");

    // Expired, from the right CA.
    let now = OffsetDateTime::now_utc();
    let expired = pki
        .ca
        .client_valid(
            "old-client",
            None,
            Some((
                now - time::Duration::days(30),
                now - time::Duration::days(1),
            )),
        )
        .expect("expired cert");
    let seen = handshake(server.addr, &pki.ca.cert_pem, Some(&expired))
        .await
        .expect("the client side completes");
    let err = seen.served.expect_err("an expired certificate is refused");
    assert!(err.to_string().contains("CertificateExpired"), "{err}");

    // Valid, but from a CA the server does not trust.
    let stranger = defender_bridge::demo::pki::Ca::new("stranger CA")
        .expect("CA")
        .client("stranger", None)
        .expect("cert");
    let seen = handshake(server.addr, &pki.ca.cert_pem, Some(&stranger))
        .await
        .expect("the client side completes");
    let err = seen.served.expect_err("an unknown issuer is refused");
    assert!(err.to_string().contains("UnknownCA"), "{err}");
    server.shutdown().await.expect("clean shutdown");
    sim.shutdown().await;
}

/// A stand-in handler (named as the health service, so tonic's health client can call it)
/// that answers with what it sees of the connection: the client certificate through
/// `tonic::Request::peer_certs`, through `tls::peer_certs`, and the remote address.
#[derive(Clone)]
struct Inspect;

impl tonic::server::NamedService for Inspect {
    const NAME: &'static str = "grpc.health.v1.Health";
}

impl tower::Service<http::Request<tonic::body::Body>> for Inspect {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let from_http = tls::peer_certs(req.extensions());
        let tcp = req.extensions().get::<TcpConnectInfo>().cloned();
        let request = tonic::Request::from_http(req);
        let leaf = request
            .peer_certs()
            .and_then(|chain| chain.first().map(|c| hex::encode(Sha256::digest(c))));
        let same = from_http.map(|c| c.len()) == request.peer_certs().map(|c| c.len());
        let message = format!(
            "leaf={} same={same} remote={:?} tcp_info={}",
            leaf.unwrap_or_default(),
            request.remote_addr(),
            tcp.is_some()
        );
        std::future::ready(Ok(tonic::Status::not_found(message).into_http()))
    }
}

#[tokio::test]
async fn handlers_see_the_verified_client_certificate() {
    let pki = Pki::new();
    let files = defender_bridge::config::TlsFiles {
        cert: pki.path("server.pem"),
        key: pki.path("server.key"),
        client_ca: Some(pki.path("ca.pem")),
    };
    let setup = tls::TlsSetup::new(&files, false).expect("TLS set-up");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let incoming = conn::incoming(listener, 8, Duration::from_secs(60), Some(setup.acceptor));
    let serving = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(conn::ActivityLayer)
            .add_service(Inspect)
            .serve_with_incoming(incoming),
    );
    let client = pki
        .ca
        .client("inspected", Some("spiffe://test/inspected"))
        .expect("client cert");
    let status = HealthClient::new(
        channel(addr, &pki.ca.cert_pem, Some(&client))
            .await
            .expect("connect"),
    )
    .check(HealthCheckRequest::default())
    .await
    .expect_err("the stand-in answers with a status");
    let expected = hex::encode(Sha256::digest(der(&client.cert_pem)));
    let message = status.message();
    assert!(message.contains(&format!("leaf={expected}")), "{message}");
    assert!(message.contains("same=true"), "{message}");
    assert!(message.contains("remote=Some(127.0.0.1:"), "{message}");
    assert!(message.contains("tcp_info=true"), "{message}");
    serving.abort();
}

#[tokio::test]
async fn start_up_errors_name_the_file_at_fault() {
    let pki = Pki::new();
    let other = pki.ca.server(&["localhost"]).expect("another server cert");
    write(&pki.path("other.key"), &other.key_pem);
    write(&pki.path("garbage.pem"), "not a certificate\n");
    let sim = start_sim(sim_config()).await;
    let cases = [
        ("server.pem", "other.key", None, "other.key"),
        ("garbage.pem", "server.key", None, "garbage.pem"),
        ("server.pem", "garbage.pem", None, "garbage.pem"),
        (
            "server.pem",
            "server.key",
            Some("garbage.pem"),
            "garbage.pem",
        ),
    ];
    for (cert, key, ca, named) in cases {
        let mut args = service_args(&sim, &sim_config(), "127.0.0.1:0".parse().expect("addr"));
        args.tls_cert = Some(pki.path(cert));
        args.tls_key = Some(pki.path(key));
        args.tls_client_ca = ca.map(|c| pki.path(c));
        let config = Config::resolve(&args).expect("the files exist");
        let err = match server::spawn(config).await {
            Err(err) => err,
            Ok(_) => panic!("{cert} + {key} must not start"),
        };
        assert!(matches!(err, ServerError::Tls(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains(named), "{text}");
        for key in [&pki.server.key_pem, &other.key_pem] {
            let body = key.lines().nth(1).expect("a PEM body line");
            assert!(!text.contains(body), "key material in {text}");
        }
    }
    let mismatch = {
        let mut args = service_args(&sim, &sim_config(), "127.0.0.1:0".parse().expect("addr"));
        args.tls_cert = Some(pki.path("server.pem"));
        args.tls_key = Some(pki.path("other.key"));
        server::spawn(Config::resolve(&args).expect("valid"))
            .await
            .err()
            .expect("refused")
            .to_string()
    };
    assert!(mismatch.contains("does not match"), "{mismatch}");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_tls_setup_holds_no_key_material_in_debug_output() {
    let pki = Pki::new();
    let files = defender_bridge::config::TlsFiles {
        cert: pki.path("server.pem"),
        key: pki.path("server.key"),
        client_ca: None,
    };
    let setup = tls::TlsSetup::new(&files, false).expect("set-up");
    let debug = format!("{setup:?}");
    let key_body: String = pki.server.key_pem.lines().nth(1).unwrap_or_default().into();
    assert!(!key_body.is_empty());
    assert!(!debug.contains(&key_body), "{debug}");
    let arc = Arc::new(setup);
    assert!(format!("{:?}", arc.reloader).contains("server.key"));
}

#[tokio::test]
async fn demo_tls_serves_mtls_with_the_files_it_wrote() {
    defender_bridge::tls::install_crypto_provider();
    let demo = defender_bridge::demo::start(defender_bridge::demo::DemoOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        sim_listen: "127.0.0.1:0".parse().expect("addr"),
        machines: 10,
        seed: 1,
        tls: true,
        admin_listen: None,
        tls_dir: None,
    })
    .await
    .expect("demo starts");
    let files = demo.tls.as_ref().expect("TLS files");
    let read = |name: &str| std::fs::read_to_string(files.path(name)).expect("generated file");
    let client = defender_bridge::demo::pki::Leaf {
        cert_pem: read("client.pem"),
        key_pem: read("client.key"),
    };
    let ca = read("ca.pem");
    let callers = read("callers.toml");
    use secrecy::ExposeSecret as _;
    let key_sha = hex::encode(Sha256::digest(files.api_key.expose_secret().as_bytes()));
    assert!(callers.contains(&key_sha), "{callers}");
    assert!(
        !callers.contains(files.api_key.expose_secret()),
        "only the key's hash"
    );
    assert!(
        callers.contains(defender_bridge::demo::tls::CLIENT_IDENTITY),
        "{callers}"
    );
    let banner = demo.banner();
    assert!(banner.contains("-cert ") && banner.contains("authorization: Bearer"));
    let addr = demo.server.addr;
    let health = HealthClient::new(channel(addr, &ca, Some(&client)).await.expect("connect"))
        .check(HealthCheckRequest::default())
        .await;
    assert!(health.is_ok(), "{health:?}");
    let seen = handshake(addr, &ca, None)
        .await
        .expect("client side completes");
    assert!(seen.served.is_err(), "no client certificate: refused");
    let dir = files.dir().to_path_buf();
    demo.shutdown().await;
    assert!(!dir.exists(), "the throw-away files are removed");
}

#[tokio::test]
async fn demo_tls_dir_holds_the_files_and_the_api_key_until_the_demo_stops() {
    use secrecy::ExposeSecret as _;
    defender_bridge::tls::install_crypto_provider();
    let parent = tempfile::tempdir().expect("temporary folder");
    let dir = parent.path().join("demo-tls");
    std::fs::create_dir(&dir).expect("folder");
    // Left by an earlier demo: replaced. Someone else's file: left alone.
    std::fs::write(dir.join("ca.pem"), "stale").expect("stale file");
    std::fs::write(dir.join("notes.txt"), "mine").expect("other file");
    let demo = defender_bridge::demo::start(defender_bridge::demo::DemoOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        sim_listen: "127.0.0.1:0".parse().expect("addr"),
        machines: 10,
        seed: 1,
        tls: true,
        admin_listen: None,
        tls_dir: Some(dir.clone()),
    })
    .await
    .expect("demo starts");
    let files = demo.tls.as_ref().expect("TLS files");
    assert_eq!(files.dir(), dir.as_path());
    assert!(demo.banner().contains(&dir.display().to_string()));
    for name in defender_bridge::demo::tls::FILES {
        let path = dir.join(name);
        assert!(path.is_file(), "{name} written");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name} readable by the owner only");
        }
    }
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect("generated file");
    let ca = read("ca.pem");
    assert_ne!(ca, "stale");
    let key = read("api-key");
    assert_eq!(key.trim_end(), files.api_key.expose_secret());
    let client = defender_bridge::demo::pki::Leaf {
        cert_pem: read("client.pem"),
        key_pem: read("client.key"),
    };

    // The files are the ones the service uses: mTLS, then the key from `api-key`.
    let risk = RiskServiceClient::new(
        channel(demo.server.addr, &ca, Some(&client))
            .await
            .expect("connect"),
    );
    let with_key = |token: &str| {
        let mut request =
            tonic::Request::new(defender_bridge::proto::CheckConnectionRequest::default());
        let value = format!("Bearer {token}").parse().expect("header value");
        request.metadata_mut().insert("authorization", value);
        request
    };
    let ready = risk
        .clone()
        .check_connection(with_key(key.trim_end()))
        .await
        .expect("the key from api-key is accepted")
        .into_inner();
    assert!(ready.ready, "{ready:?}");
    let refused = risk
        .clone()
        .check_connection(with_key("demo_not-the-key"))
        .await
        .expect_err("another key is refused");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    demo.shutdown().await;
    for name in defender_bridge::demo::tls::FILES {
        assert!(!dir.join(name).exists(), "{name} removed");
    }
    assert_eq!(read("notes.txt"), "mine");
}
