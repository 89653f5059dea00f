//! The server's error, and how each becomes an HTTP reply with an [`ErrorBody`]. Messages carry
//! ids and field names, never customer data: a failed parse is told by where it failed (the
//! field's path) and the kind of problem ([`describe_de`]), never by the value, so nothing a
//! client sent reaches a reply, a stored rejection or a log line through an error text.
//!
//! Every error reply is JSON, including those axum and tower-http make themselves (an unknown
//! method, an unsupported `Content-Encoding`): [`every_error_is_json`] rewrites any non-JSON
//! error reply into an [`ErrorBody`] with the status's code. The codes are listed in
//! docs/sync-protocol.md ("Errors").

use axum::Json;
use axum::body::Body;
use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fieldcrew_core::sync::wire::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing, unknown or revoked token")]
    Unauthorized,
    /// The token is genuine (its secret matched) but past its expiry: the member needs a new
    /// one. Told apart only after the secret matched, so it says nothing to a guesser.
    #[error("the token expired; ask for a new one")]
    TokenExpired,
    #[error("this token may not do that")]
    Forbidden,
    /// Also for things that exist but are outside the caller's scope: no leak.
    #[error("not found")]
    NotFound,
    /// The request cannot be read as sent: a body that is not well-formed JSON or does not
    /// decode, a query string parameter of the wrong form.
    #[error("{0}")]
    Malformed(String),
    /// The path exists, the method does not (the reply's `Allow` header lists those that do).
    #[error("this method is not allowed here; the Allow header lists those that are")]
    MethodNotAllowed,
    /// The body is larger than the limit (counted after decompression).
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// The body's `Content-Type` is not one this endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("storage: {0}")]
    Storage(#[from] rusqlite::Error),
    #[error("storage migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        ApiError::Invalid(msg.into())
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::TokenExpired => (StatusCode::UNAUTHORIZED, "token_expired"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Storage(_)
            | ApiError::Migration(_)
            | ApiError::Corrupt(_)
            | ApiError::Io(_)
            | ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// Stored JSON that does not parse (the database is damaged). Told by position only: the text
/// serde_json gives quotes the stored value, which may be a customer's name, and this error is
/// logged.
impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::Corrupt(format!(
            "stored JSON: {} at line {} column {}",
            category(&e),
            e.line(),
            e.column()
        ))
    }
}

fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Eof => "cut short",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            "the server failed; try again later".to_owned()
        } else {
            let message = self.to_string();
            tracing::debug!(status = status.as_u16(), code, %message, "request refused");
            message
        };
        (
            status,
            Json(ErrorBody {
                error: code.to_owned(),
                message,
            }),
        )
            .into_response()
    }
}

/// The code and a message for an error reply made outside the handlers (by axum or a layer),
/// by its status.
fn status_error(status: StatusCode, encoding_refused: bool) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("malformed", "the request could not be read"),
        401 => ("unauthorized", "missing, unknown or revoked token"),
        403 => ("forbidden", "this token may not do that"),
        404 => ("not_found", "not found"),
        405 => (
            "method_not_allowed",
            "this method is not allowed here; the Allow header lists those that are",
        ),
        408 => ("timeout", "the request took too long"),
        409 => ("conflict", "the request conflicts with the server's state"),
        413 => ("too_large", "the request body is too large"),
        415 if encoding_refused => (
            "unsupported_media_type",
            "the body's Content-Encoding is not supported; Accept-Encoding lists those that are",
        ),
        415 => (
            "unsupported_media_type",
            "the body's Content-Type is not one this endpoint reads",
        ),
        416 => (
            "range_not_satisfiable",
            "the range starts beyond the end of the file (Content-Range gives its size)",
        ),
        422 => ("invalid", "the request is not valid"),
        500..=599 => ("internal", "the server failed; try again later"),
        _ => ("bad_request", "the request was refused"),
    }
}

/// A layer's last word on every reply (`axum::middleware::map_response`): an error reply that is
/// not JSON already (axum's `405` has no body, tower-http's `415` for an unknown
/// `Content-Encoding` neither, a photo's `416` has none) gets the [`ErrorBody`] of its status.
/// Its other headers (`Allow`, `Accept-Encoding`, `Content-Range`) are kept.
pub async fn every_error_is_json(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return res;
    }
    let (mut parts, _) = res.into_parts();
    let (code, message) = status_error(status, parts.headers.contains_key(ACCEPT_ENCODING));
    let body = serde_json::to_vec(&ErrorBody {
        error: code.to_owned(),
        message: message.to_owned(),
    })
    .unwrap_or_default();
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(CONTENT_ENCODING);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(body))
}

/// How a deserialisation error is told, to the client and in logs: the path of the field that
/// failed and the kind of problem, never the value. serde's own texts quote the value
/// (`invalid type: string "张三", expected u32`), so they are read only for their fixed prefix
/// and, for type and value errors, what was expected (a type's description, from the code,
/// after the value in the text); custom messages (dates, UUIDs, decimals) are not used at all.
pub fn describe_de<E: std::fmt::Display>(path: &serde_path_to_error::Path, e: &E) -> String {
    describe_at(render_path(path), &e.to_string())
}

/// [`describe_de`] for a serde error's text at a path already rendered (`""` for none).
pub fn describe_at(mut at: String, text: &str) -> String {
    let expected = || {
        text.rfind(", expected ")
            .map(|i| clean_expected(&text[i + ", expected ".len()..]))
            .unwrap_or_default()
    };
    let problem = if text.starts_with("invalid type: ") {
        format!("wrong type, expected {}", expected())
    } else if text.starts_with("invalid value: ") {
        format!("invalid value, expected {}", expected())
    } else if text.starts_with("invalid length ") {
        format!("wrong length, expected {}", expected())
    } else if text.starts_with("unknown variant ") {
        format!("unknown value, expected {}", expected())
    } else if text.starts_with("unknown field ") {
        // The path ends with the field's name (when it is one our types could have).
        format!("unknown field, expected {}", expected())
    } else if let Some(rest) = text.strip_prefix("missing field ") {
        if let Some(f) = backticked(rest).filter(|f| safe_name(f)) {
            push_key(&mut at, f);
        }
        "missing".to_owned()
    } else if let Some(rest) = text.strip_prefix("duplicate field ") {
        if let Some(f) = backticked(rest).filter(|f| safe_name(f)) {
            push_key(&mut at, f);
        }
        "given twice".to_owned()
    } else {
        "invalid value".to_owned()
    };
    if at.is_empty() {
        problem
    } else {
        format!("{at}: {problem}")
    }
}

/// Deserialises `T` from JSON already parsed (a part of a body, a push operation's fields); the
/// error names the path and the problem, never the value.
pub fn from_value<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(v).map_err(|e| describe_de(e.path(), e.inner()))
}

/// serde_json's text for a JSON syntax error or a body cut short is its own fixed wording and the
/// position (`expected `,` or `}` at line 1 column 18`), never the input; anything else is told
/// by [`describe_de`].
pub fn describe_json(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    use serde_json::error::Category;
    let inner = e.inner();
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            // Where the parse was (a key not read yet is `?`: left out).
            let at = render_path(e.path());
            let at = at.trim_end_matches('?').trim_end_matches('.');
            if at.is_empty() {
                format!("not JSON: {inner}")
            } else {
                format!("not JSON: {at}: {inner}")
            }
        }
        Category::Data => {
            // serde_json appends the position to data errors too.
            let suffix = format!(" at line {} column {}", inner.line(), inner.column());
            let text = inner.to_string();
            let text = text.strip_suffix(&suffix).unwrap_or(&text);
            describe_de(e.path(), &text)
        }
    }
}

/// A snake_case name as our types have (a field, a variant, a query parameter): anything else a
/// client used as a key is not echoed.
fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn push_key(at: &mut String, key: &str) {
    if !at.is_empty() {
        at.push('.');
    }
    at.push_str(key);
}

fn render_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut at = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => at.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                push_key(&mut at, if safe_name(key) { key } else { "?" })
            }
            Segment::Unknown => push_key(&mut at, "?"),
        }
    }
    at
}

fn backticked(s: &str) -> Option<&str> {
    let start = s.find('`')? + 1;
    let len = s[start..].find('`')?;
    Some(&s[start..start + len])
}

/// What serde says was expected: a type's description from the code (`u32`, `a string`,
/// `one of `slot`, `within``), bounded and on one line.
fn clean_expected(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).take(400).collect();
    s.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_error<T: serde::de::DeserializeOwned + std::fmt::Debug>(body: &str) -> String {
        let mut de = serde_json::Deserializer::from_str(body);
        let e = serde_path_to_error::deserialize::<_, T>(&mut de).expect_err("fails");
        describe_json(&e)
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Person {
        name: String,
        age: u32,
        tags: Vec<String>,
        kind: Kind,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Crew,
        Dispatcher,
    }

    #[test]
    fn errors_name_the_field_and_the_problem_never_the_value() {
        let cases = [
            (
                r#"{"name": "x", "age": "张三丰", "tags": [], "kind": "crew"}"#,
                "age: wrong type, expected u32",
            ),
            (
                r#"{"name": "x", "age": 1, "tags": ["a", 13912345678], "kind": "crew"}"#,
                "tags[1]: wrong type, expected a string",
            ),
            (
                r#"{"name": "x", "age": 1, "tags": [], "kind": "330602199001011234"}"#,
                "kind: unknown value, expected `crew` or `dispatcher`",
            ),
            (
                r#"{"name": "x", "age": 1, "tags": [], "kind": "crew", "phone": "13912345678"}"#,
                "phone: unknown field, expected one of `name`, `age`, `tags`, `kind`",
            ),
            (
                r#"{"name": "x", "age": 1, "tags": [], "kind": "crew", "张三丰": 1}"#,
                "?: unknown field, expected one of `name`, `age`, `tags`, `kind`",
            ),
            (r#"{"name": "x", "age": 1, "tags": []}"#, "kind: missing"),
            (
                r#"{"name": "x", "age": 99999999999, "tags": [], "kind": "crew"}"#,
                "age: invalid value, expected u32",
            ),
            (
                r#"{"name": "张三丰" "age": 1}"#,
                "not JSON: expected `,` or `}` at line 1 column 22",
            ),
            (
                r#"{"name": "张三"#,
                "not JSON: name: EOF while parsing a string at line 1 column 16",
            ),
        ];
        for (body, want) in cases {
            assert_eq!(json_error::<Person>(body), want, "{body}");
        }
    }

    #[test]
    fn custom_messages_and_odd_keys_are_not_repeated() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct At {
            at: chrono::DateTime<chrono::Utc>,
            id: uuid::Uuid,
            money: rust_decimal::Decimal,
            by_key: std::collections::BTreeMap<String, u8>,
        }
        let good = [
            ("at", r#""2026-11-25T00:00:00Z""#),
            ("id", r#""0190b6a8-55a4-7c4e-8c6b-3c7d1d9a6f01""#),
            ("money", r#""1""#),
            ("by_key", "{}"),
        ];
        for (field, value, want) in [
            ("at", r#""张三丰""#, "at: invalid value"),
            ("id", r#""z13912345678""#, "id: invalid value"),
            (
                "money",
                r#""NaN""#,
                "money: invalid value, expected a Decimal type representing a fixed-point number",
            ),
            (
                "by_key",
                r#"{"张三丰": "x"}"#,
                "by_key.?: wrong type, expected u8",
            ),
            (
                "by_key",
                r#"{"1391234": "x"}"#,
                "by_key.?: wrong type, expected u8",
            ),
        ] {
            let fields: Vec<String> = good
                .iter()
                .map(|(f, v)| format!("\"{f}\": {}", if *f == field { value } else { v }))
                .collect();
            let body = format!("{{{}}}", fields.join(", "));
            let got = json_error::<At>(&body);
            assert!(!got.contains("张三丰") && !got.contains("1391234"), "{got}");
            assert_eq!(got, want, "{body}");
        }
    }

    #[test]
    fn the_path_goes_inside_an_appointment() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Order {
            appointment: fieldcrew_core::work_order::Appointment,
        }
        for (appointment, want) in [
            (
                r#"{"mode": "slot", "start": "张三丰", "end": "2026-11-25T04:00:00Z"}"#,
                "appointment.start: invalid value",
            ),
            (
                r#"{"mode": "slot", "start": "2026-11-25T02:00:00Z"}"#,
                "appointment.end: missing",
            ),
            (
                r#"{"mode": "within", "hours": "13912345678"}"#,
                "appointment.hours: wrong type, expected u32",
            ),
            (
                r#"{"mode": "330602199001011234"}"#,
                "appointment.mode: unknown value, expected one of `slot`, `within`, `deadline`",
            ),
            (
                r#"{"by": "2026-11-25T02:00:00Z"}"#,
                "appointment.mode: missing",
            ),
        ] {
            let got = json_error::<Order>(&format!(r#"{{"appointment": {appointment}}}"#));
            assert_eq!(got, want, "{appointment}");
        }
    }

    #[test]
    fn stored_json_that_does_not_parse_is_told_by_position() {
        let e = serde_json::from_str::<u32>(r#""张三丰""#).expect_err("fails");
        let ApiError::Corrupt(m) = ApiError::from(e) else {
            panic!("corrupt")
        };
        assert_eq!(m, "stored JSON: unexpected data at line 1 column 11");
    }
}
