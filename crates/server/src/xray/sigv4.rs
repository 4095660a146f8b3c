//! AWS Signature Version 4, as the AWS CLI and SDKs sign X-Ray calls: the `Authorization`
//! header's signature is recomputed from the request and the key's secret, and must match.
//!
//! What binds a signature to one request: the payload hash is always computed from the body
//! received (a client's `x-amz-content-sha256` must agree with it; `UNSIGNED-PAYLOAD` is S3's
//! alone), `host` must be signed, the signing time must be within 15 minutes of ours (so a
//! captured request cannot be replayed later), and signatures are compared in constant time.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Most a signed request's `x-amz-date` may differ from our clock (AWS allows 15 minutes).
const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// A parsed `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Authorization {
    /// The access key id.
    pub(super) access_key_id: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

/// The parts of a request a signature covers.
pub(super) struct Request<'a> {
    /// `POST`.
    pub(super) method: &'a str,
    /// The path, as sent.
    pub(super) path: &'a str,
    /// The query string, without `?`.
    pub(super) query: &'a str,
    /// Every header.
    pub(super) headers: &'a HeaderMap,
    /// The body.
    pub(super) body: &'a [u8],
}

/// Parses the header; `None` when it is not SigV4 at all.
pub(super) fn parse(header: &str) -> Option<Result<Authorization, String>> {
    let rest = header.strip_prefix("AWS4-HMAC-SHA256")?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (key, value) = part.trim().split_once('=')?;
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let parsed = (|| {
        let credential = credential.ok_or("no Credential")?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, "aws4_request"] = scope.as_slice() else {
            return Err(format!(
                "Credential {credential:?} is not <key>/<date>/<region>/<service>/aws4_request"
            ));
        };
        Ok(Authorization {
            access_key_id: (*access_key_id).to_owned(),
            date: (*date).to_owned(),
            region: (*region).to_owned(),
            service: (*service).to_owned(),
            signed_headers: signed_headers
                .ok_or("no SignedHeaders")?
                .split(';')
                .map(str::to_owned)
                .collect(),
            signature: signature.ok_or("no Signature")?.to_owned(),
        })
    })();
    Some(parsed.map_err(|e: String| e))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// AWS's URI encoding: unreserved characters as they are, everything else `%XX`.
fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let decoded = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                uri_encode(&percent_decode(key), false),
                uri_encode(&percent_decode(value), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn canonical_headers(authorization: &Authorization, headers: &HeaderMap) -> Result<String, String> {
    let mut out = String::new();
    for name in &authorization.signed_headers {
        let values: Vec<String> = headers
            .get_all(name.as_str())
            .iter()
            .map(|v| {
                let text = String::from_utf8_lossy(v.as_bytes());
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(format!("signed header {name} is missing"));
        }
        out.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    Ok(out)
}

/// Seconds since the Unix epoch of `YYYYMMDDTHHMMSSZ`.
fn amz_date_seconds(text: &str) -> Option<i64> {
    if text.len() != 16 || !text.ends_with('Z') || text.as_bytes()[8] != b'T' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    let seconds = combray_xray::time::parse_timestamp(&serde_json::Value::String(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z"
    )))
    .ok()?;
    Some(seconds as i64)
}

/// Why a signature was not accepted, as AWS names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rejected {
    /// The AWS exception name (`InvalidSignatureException`, `IncompleteSignatureException`).
    pub(super) code: &'static str,
    /// AWS's message.
    pub(super) message: String,
}

fn invalid(message: impl Into<String>) -> Rejected {
    Rejected {
        code: "InvalidSignatureException",
        message: message.into(),
    }
}

fn incomplete(message: impl Into<String>) -> Rejected {
    Rejected {
        code: "IncompleteSignatureException",
        message: message.into(),
    }
}

/// `YYYYMMDDTHHMMSSZ` of seconds since the Unix epoch: RFC 3339 without its separators.
fn amz_date_of(seconds: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds.max(0) as u64);
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace(['-', ':'], "")
}

/// The signing time, checked against the credential's date and our clock.
fn check_time(
    authorization: &Authorization,
    headers: &HeaderMap,
    now: i64,
) -> Result<String, Rejected> {
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."))?;
    if !amz_date.starts_with(&authorization.date) {
        return Err(invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
            authorization.date,
            amz_date.get(..8).unwrap_or(amz_date)
        )));
    }
    let signed_at = amz_date_seconds(amz_date).ok_or_else(|| {
        incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'."
        ))
    })?;
    if now - signed_at > MAX_SKEW_SECONDS {
        return Err(invalid(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            amz_date_of(now - MAX_SKEW_SECONDS),
            amz_date_of(now)
        )));
    }
    if signed_at - now > MAX_SKEW_SECONDS {
        return Err(invalid(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            amz_date_of(now + MAX_SKEW_SECONDS),
            amz_date_of(now)
        )));
    }
    Ok(amz_date.to_owned())
}

/// The hash of the body received; a client's own claim of it must agree.
fn payload_hash(headers: &HeaderMap, body: &[u8]) -> Result<String, Rejected> {
    let computed = sha256_hex(body);
    match headers.get("x-amz-content-sha256").map(|v| v.to_str()) {
        None => Ok(computed),
        Some(Ok("UNSIGNED-PAYLOAD")) => Err(invalid(
            "UNSIGNED-PAYLOAD is accepted only by Amazon S3; X-Ray requests must sign the SHA-256 of their body.",
        )),
        Some(Ok(claimed)) if claimed.eq_ignore_ascii_case(&computed) => Ok(computed),
        Some(_) => Err(invalid(
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )),
    }
}

/// Checks a request's signature with the key's secret; the error says what does not match.
pub(super) fn verify(
    authorization: &Authorization,
    request: &Request<'_>,
    secret: &str,
    now: i64,
) -> Result<(), Rejected> {
    if !authorization
        .signed_headers
        .iter()
        .any(|name| name == "host")
    {
        return Err(incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    let amz_date = check_time(authorization, request.headers, now)?;
    let payload_hash = payload_hash(request.headers, request.body)?;
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        uri_encode(&percent_decode(request.path), true),
        canonical_query(request.query),
        canonical_headers(authorization, request.headers).map_err(invalid)?,
        authorization.signed_headers.join(";"),
        payload_hash
    );
    let scope = format!(
        "{}/{}/{}/aws4_request",
        authorization.date, authorization.region, authorization.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let mut key = hmac(
        format!("AWS4{secret}").as_bytes(),
        authorization.date.as_bytes(),
    );
    for part in [
        authorization.region.as_str(),
        authorization.service.as_str(),
        "aws4_request",
    ] {
        key = hmac(&key, part.as_bytes());
    }
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(string_to_sign.as_bytes());
    let provided = hex::decode(&authorization.signature).unwrap_or_default();
    // verify_slice compares in constant time: no timing tells how much of a guess was right.
    mac.verify_slice(&provided).map_err(|_| {
        invalid("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published example (IAM ListUsers, GET with a query string), from the SigV4 docs.
    #[test]
    fn the_documented_example_verifies_and_a_changed_secret_does_not() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
        let authorization = parse(header).unwrap().unwrap();
        assert_eq!(authorization.access_key_id, "AKIDEXAMPLE");
        let request = Request {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: &headers,
            body: b"",
        };
        let at = amz_date_seconds("20150830T123600Z").unwrap();
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        assert_eq!(verify(&authorization, &request, secret, at), Ok(()));
        assert!(verify(&authorization, &request, "another-secret", at).is_err());
        assert_eq!(
            verify(&authorization, &request, secret, at + 3600)
                .unwrap_err()
                .message,
            "Signature expired: 20150830T123600Z is now earlier than 20150830T132100Z (20150830T133600Z - 15 min.)"
        );
        assert!(parse("Bearer x").is_none());
        for text in ["20150830T123600Z", "20000229T235959Z", "19700101T000000Z"] {
            assert_eq!(amz_date_of(amz_date_seconds(text).unwrap()), text);
        }
        assert!(parse("AWS4-HMAC-SHA256 Credential=a/b").unwrap().is_err());
    }
}
