//! The server's error, and how each becomes an HTTP reply with an [`ErrorBody`]. Messages carry
//! ids and field names, never customer data.

use axum::Json;
use axum::http::StatusCode;
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

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::Corrupt(format!("stored JSON: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            "the server failed; try again later".to_owned()
        } else {
            self.to_string()
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
