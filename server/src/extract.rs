//! Request extractors whose every failure is an [`ApiError`]: a JSON reply with a stable code,
//! and a message that names the field or parameter and the kind of problem, never the value
//! (docs/sync-protocol.md, "Errors").
//!
//! axum's own `Json`, `Query` and `Path` answer their failures in plain text that quotes the
//! client's value (`Failed to deserialize query string: unknown variant `张三``), and trace that
//! text; none of them is used by the routes.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{ApiError, describe_de, describe_json};

/// The largest request body the server reads, counted after decompression (a document the
/// office uploads is the largest there is). Photo uploads stream and are bounded by the photo's
/// record instead.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// The whole body. Larger than [`MAX_BODY`] is `413 too_large` (before a byte is read when
/// `Content-Length` says so); a body that does not decode (broken gzip) is `400 malformed`.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let announced = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if announced.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(ApiError::TooLarge(MAX_BODY));
        }
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(RawBody(b)),
            Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => {
                Err(ApiError::TooLarge(MAX_BODY))
            }
            Err(_) => Err(ApiError::Malformed(
                "the body could not be read (cut short, or not valid gzip)".into(),
            )),
        }
    }
}

/// A JSON body of type `T`: `Content-Type: application/json` (else `415`), well-formed JSON
/// (else `400 malformed`), of the expected shape (else `422 invalid`, naming the field's path).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        require_json(req.headers())?;
        let RawBody(body) = RawBody::from_request(req, state).await?;
        Ok(JsonBody(parse_json(&body)?))
    }
}

/// Whether the request says its body is JSON: `application/json` or an `application/…+json`
/// type, with any parameters (`; charset=utf-8`).
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|t| {
            t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
        })
}

pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    if is_json(headers) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            "the body is JSON: send it with Content-Type: application/json".into(),
        ))
    }
}

/// Parses a JSON body: a syntax error or a body cut short is `malformed`, JSON of the wrong
/// shape `invalid`; both name where, neither quotes the value.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let message = describe_json(&e);
        match e.inner().classify() {
            serde_json::error::Category::Data => ApiError::Invalid(message),
            _ => ApiError::Malformed(message),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::Malformed(format!("not JSON: {e}")))?;
    Ok(value)
}

/// The query string, parsed into `T`; a parameter of the wrong form, or a required one missing,
/// is `400 malformed` ("query string: limit: invalid value").
pub struct QueryOf<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryOf<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(QueryOf)
            .map_err(|e| {
                ApiError::Malformed(format!(
                    "query string: {}",
                    describe_de(e.path(), e.inner())
                ))
            })
    }
}

/// The route's one path parameter, percent-decoded. One that does not decode names nothing:
/// `404`.
pub struct PathText(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathText {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        let value = params.iter().next().map(|(_, v)| v.to_owned());
        value.map(PathText).ok_or(ApiError::NotFound)
    }
}

/// The route's id parameter: an order or conflict id. One that is not a UUID names nothing:
/// `404`, as for an id no one has (as a photo route answers for a text that is no content
/// address).
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let PathText(text) = PathText::from_request_parts(parts, state).await?;
        Uuid::try_parse(&text)
            .map(PathId)
            .map_err(|_| ApiError::NotFound)
    }
}
