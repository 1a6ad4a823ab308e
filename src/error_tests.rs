use super::*;

fn details(status: &tonic::Status) -> ErrorDetails {
    status.get_error_details()
}

#[test]
fn invalid_field_maps_to_invalid_argument_with_bad_request() {
    let status: tonic::Status = ServiceError::invalid("machine_id", "must be 40 hex").into();
    assert_eq!(status.code(), Code::InvalidArgument);
    let d = details(&status);
    assert_eq!(
        d.error_info().map(|i| i.reason.as_str()),
        Some("INVALID_FIELD")
    );
    assert_eq!(
        d.error_info().map(|i| i.domain.as_str()),
        Some(ERROR_DOMAIN)
    );
    let br = d.bad_request().expect("bad request");
    assert_eq!(br.field_violations[0].field, "machine_id");
}

#[test]
fn rate_limited_carries_retry_info_and_quota_failure() {
    let status: tonic::Status = ServiceError::RateLimited {
        quota: "machines".into(),
        retry_after: Duration::from_secs(7),
        cpu_quota: false,
    }
    .into();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let d = details(&status);
    assert_eq!(
        d.retry_info().and_then(|r| r.retry_delay),
        Some(Duration::from_secs(7))
    );
    assert!(d.quota_failure().is_some());
}

#[test]
fn missing_permission_names_it_in_metadata() {
    let status: tonic::Status = ServiceError::from(DefenderError::MissingPermission {
        required: vec!["Machine.Read.All".into(), "Machine.ReadWrite.All".into()],
        granted: vec![],
        message: String::new(),
        target: None,
    })
    .into();
    assert_eq!(status.code(), Code::PermissionDenied);
    let info = details(&status).error_info().cloned().expect("info");
    assert_eq!(info.reason, "MISSING_APP_PERMISSION");
    assert_eq!(
        info.metadata.get("permission").map(String::as_str),
        Some("Machine.Read.All")
    );
}

#[test]
fn authentication_failure_keeps_the_aadsts_code() {
    let status: tonic::Status = ServiceError::from(DefenderError::Authentication {
        status: 401,
        error: "invalid_client".into(),
        aadsts_code: Some("AADSTS7000215".into()),
        description: "AADSTS7000215: Invalid client secret provided. Trace ID: x".into(),
    })
    .into();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let info = details(&status).error_info().cloned().expect("info");
    assert_eq!(
        info.metadata.get("aadsts_code").map(String::as_str),
        Some("AADSTS7000215")
    );
    assert!(status.message().contains("client secret is wrong"));
}

#[test]
fn echoes_of_caller_input_are_cut() {
    assert_eq!(echo("short"), "short");
    let long = "é".repeat(10_000);
    let cut = echo(&long);
    assert_eq!(cut.chars().count(), MAX_ECHO_CHARS + 3);
    assert!(cut.ends_with("..."));
    let err = ServiceError::invalid("x".repeat(5000), "y".repeat(1_000_000));
    assert!(err.to_string().len() < 2 * MAX_DESCRIPTION_CHARS);
}
