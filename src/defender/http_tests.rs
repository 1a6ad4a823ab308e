use super::*;
use reqwest::header::HeaderValue;

#[test]
fn retry_after_accepts_seconds_and_http_dates() {
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
    assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(7)));
    let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
    headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).expect("header"));
    let parsed = parse_retry_after(&headers).expect("date");
    assert!(parsed > Duration::from_secs(100) && parsed <= Duration::from_secs(120));
    headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
    assert_eq!(parse_retry_after(&headers), None);
}

#[test]
fn error_samples_classify_to_their_variants() {
    let e = classify(
        400,
        include_bytes!("testdata/error_400_active_request_already_exists.json"),
        None,
    );
    assert!(matches!(
        e,
        DefenderError::ActiveRequestAlreadyExists { .. }
    ));
    let e = classify(
        400,
        include_bytes!("testdata/error_400_invalid_request_body.json"),
        None,
    );
    assert!(
        matches!(e, DefenderError::BadRequest { ref code, ref target, .. } if code == "InvalidRequestBody" && target.as_deref() == Some("1fa66c0f-18bd-4133-b378-36d76f3a2ba0"))
    );
    match classify(
        403,
        include_bytes!("testdata/error_403_missing_role.json"),
        None,
    ) {
        DefenderError::MissingPermission {
            required, granted, ..
        } => {
            assert_eq!(required, ["Machine.Read.All", "Machine.ReadWrite.All"]);
            assert_eq!(granted, ["Machine.Isolate"]);
        }
        other => panic!("unexpected {other:?}"),
    }
    let e = classify(
        403,
        include_bytes!("testdata/error_403_missing_permission_legacy.json"),
        None,
    );
    assert!(matches!(e, DefenderError::MissingPermission { .. }));
    let e = classify(
        403,
        br#"{"error":{"code":"DisabledFeature","message":"nope"}}"#,
        None,
    );
    assert!(matches!(e, DefenderError::Forbidden { ref code, .. } if code == "DisabledFeature"));
    let e = classify(
        404,
        include_bytes!("testdata/error_404_resource_not_found.json"),
        None,
    );
    assert!(matches!(e, DefenderError::NotFound { ref code, .. } if code == "ResourceNotFound"));
    let e = classify(
        429,
        include_bytes!("testdata/error_429_quota.json"),
        Some(Duration::from_secs(3)),
    );
    assert!(matches!(
        e,
        DefenderError::Throttled {
            cpu_quota: false,
            retry_after: Some(_),
            ..
        }
    ));
    let e = classify(
        429,
        br#"{"error":{"code":"TooManyRequests","message":"CPU resources quota exceeded"}}"#,
        None,
    );
    assert!(matches!(
        e,
        DefenderError::Throttled {
            cpu_quota: true,
            ..
        }
    ));
    let e = classify(502, b"<html>bad gateway</html>", None);
    assert!(
        matches!(e, DefenderError::Upstream { status: 502, ref message, .. } if message.contains("bad gateway"))
    );
    let e = classify(
        403,
        br#"{"error":{"code":"Forbidden","message":"x","innerError":{"request-id":"rid"}}}"#,
        None,
    );
    assert_eq!(e.target(), Some("rid"));
}
