//! Realistic trace trees: a browser-facing frontend (`loadgen-web`) calls `loadgen-api`, which
//! calls a user service (`loadgen-users`) that queries a database, with Flask and `requests`
//! semantic-convention attributes (the old conventions, which the Python instrumentations emit
//! by default). Every service is named `loadgen-…`, so synthetic traffic sent to a real
//! environment is plain to see and to filter out.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use rand::rngs::StdRng;
use rand::Rng;

pub(crate) const SERVICES: [&str; 3] = ["loadgen-web", "loadgen-api", "loadgen-users"];
const ROUTES: [&str; 4] = [
    "/api/activities/home",
    "/api/activities/@<string:handle>",
    "/api/messages",
    "/api/users/<id>",
];

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// One generated span and the service that emits it.
pub(crate) struct GeneratedSpan {
    pub(crate) service: usize,
    pub(crate) scope: &'static str,
    pub(crate) span: Span,
}

struct TraceBuilder<'a> {
    rng: &'a mut StdRng,
    trace_id: Vec<u8>,
    spans: Vec<GeneratedSpan>,
    failed: bool,
}

impl TraceBuilder<'_> {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        service: usize,
        scope: &'static str,
        parent: Option<&[u8]>,
        name: &str,
        kind: i32,
        start: u64,
        duration: u64,
        attributes: Vec<KeyValue>,
    ) -> Vec<u8> {
        let span_id = self.rng.random::<u64>().max(1).to_be_bytes().to_vec();
        let error = self.failed && kind == 2 && service == 2;
        self.spans.push(GeneratedSpan {
            service,
            scope,
            span: Span {
                trace_id: self.trace_id.clone(),
                span_id: span_id.clone(),
                parent_span_id: parent.map(<[u8]>::to_vec).unwrap_or_default(),
                name: name.into(),
                kind,
                start_time_unix_nano: start,
                end_time_unix_nano: start + duration,
                attributes,
                flags: if parent.is_some() { 0x300 } else { 0x100 },
                status: Some(Status {
                    code: if error {
                        status::StatusCode::Error as i32
                    } else {
                        status::StatusCode::Unset as i32
                    },
                    message: if error {
                        "InternalServerError: upstream failed".into()
                    } else {
                        String::new()
                    },
                }),
                ..Default::default()
            },
        });
        span_id
    }
}

/// Generates one trace of seven spans across three services starting at `now`.
pub(crate) fn generate_trace(rng: &mut StdRng, now: u64, error_ratio: f64) -> Vec<GeneratedSpan> {
    let trace_id = rng.random::<u128>().max(1).to_be_bytes().to_vec();
    let failed = rng.random_bool(error_ratio.clamp(0.0, 1.0));
    let route = ROUTES[rng.random_range(0..ROUTES.len())];
    let status_code = if failed { 500 } else { 200 };
    let total = rng.random_range(5_000_000..80_000_000u64);
    let mut builder = TraceBuilder {
        rng,
        trace_id,
        spans: Vec::with_capacity(7),
        failed,
    };
    let flask = "opentelemetry.instrumentation.flask";
    let requests = "opentelemetry.instrumentation.requests";
    // Users, ids and client ports vary per request as in real traffic, so blocks are not
    // flattered by attribute values that never change.
    let user = format!("user-{}", builder.rng.random_range(1..100_000u32));
    let path = route.replace("<string:handle>", &user).replace(
        "<id>",
        &builder.rng.random_range(1..1_000_000u32).to_string(),
    );
    let peer_port = i64::from(builder.rng.random_range(30_000..61_000u16));
    let server_attributes = |host: &str| {
        vec![
            text("http.method", "GET"),
            text("http.scheme", "http"),
            text("http.host", host),
            text("net.host.name", host),
            int("net.host.port", 4567),
            text("http.target", &path),
            text("net.peer.ip", "127.0.0.1"),
            int("net.peer.port", peer_port),
            text("http.user_agent", "python-requests/2.32.3"),
            text("http.flavor", "1.1"),
            text("http.route", route),
            int("http.status_code", status_code),
        ]
    };
    let root = builder.add(
        0,
        flask,
        None,
        "GET /",
        2,
        now,
        total,
        server_attributes("loadgen-web:3000"),
    );
    let call = builder.add(
        0,
        requests,
        Some(&root),
        "GET",
        3,
        now + 1_000_000,
        total - 2_000_000,
        vec![
            text("http.method", "GET"),
            text("http.url", &format!("http://loadgen-api:4567{path}")),
            int("http.status_code", status_code),
        ],
    );
    let backend = builder.add(
        1,
        flask,
        Some(&call),
        &format!("GET {route}"),
        2,
        now + 1_500_000,
        total - 3_000_000,
        server_attributes("loadgen-api:4567"),
    );
    builder.add(
        1,
        "loadgen-api.services",
        Some(&backend),
        "home_activities",
        1,
        now + 2_000_000,
        1_000_000,
        vec![
            text("app.now", "2026-11-25T11:00:00+00:00"),
            int("app.result_length", 3),
            text("user.id", &user),
        ],
    );
    let users = builder.add(
        1,
        requests,
        Some(&backend),
        "GET",
        3,
        now + 3_500_000,
        total / 2,
        vec![
            text("http.method", "GET"),
            text("http.url", "http://loadgen-users:5000/users/42"),
            int("http.status_code", status_code),
        ],
    );
    let service = builder.add(
        2,
        flask,
        Some(&users),
        "GET /users/<id>",
        2,
        now + 4_000_000,
        total / 2 - 1_000_000,
        server_attributes("loadgen-users:5000"),
    );
    builder.add(
        2,
        "opentelemetry.instrumentation.psycopg",
        Some(&service),
        "SELECT users",
        3,
        now + 4_500_000,
        total / 4,
        vec![
            text("db.system", "postgresql"),
            text(
                "db.statement",
                "SELECT id, handle, display_name FROM users WHERE id = %s",
            ),
            text("net.peer.name", "db"),
        ],
    );
    builder.spans
}

/// Groups spans into one `ResourceSpans` per service and one `ScopeSpans` per scope, as the SDK
/// does.
pub(crate) fn group(spans: Vec<GeneratedSpan>, instance: &str) -> Vec<ResourceSpans> {
    let mut by_service: Vec<Vec<(&'static str, Vec<Span>)>> = vec![Vec::new(); SERVICES.len()];
    for generated in spans {
        let scopes = &mut by_service[generated.service];
        match scopes
            .iter_mut()
            .find(|(scope, _)| *scope == generated.scope)
        {
            Some((_, list)) => list.push(generated.span),
            None => scopes.push((generated.scope, vec![generated.span])),
        }
    }
    by_service
        .into_iter()
        .enumerate()
        .filter(|(_, scopes)| !scopes.is_empty())
        .map(|(service, scopes)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", SERVICES[service]),
                    text("service.instance.id", instance),
                    text("telemetry.sdk.language", "python"),
                    text("telemetry.sdk.name", "opentelemetry"),
                    text("telemetry.sdk.version", "1.38.0"),
                ],
                ..Default::default()
            }),
            scope_spans: scopes
                .into_iter()
                .map(|(scope, spans)| ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: scope.into(),
                        version: "0.59b0".into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect()
}
