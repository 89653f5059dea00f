//! Bearer tokens, one per member and device: `fc1.<id>.<secret>`. The server keeps the id and the
//! SHA-256 of the secret; a request's secret is hashed and compared in constant time. An unknown
//! id costs the same hash and compare, against a dummy, so timing does not tell ids apart.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::storage::{Caller, Role, Storage, TokenRecord};

/// A freshly issued token: `token` is shown once and never stored.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct IssuedToken {
    pub token_id: String,
    pub token: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Issues a token for `member_id` on `device` and stores its hash.
pub fn issue_token(
    storage: &dyn Storage,
    member_id: &str,
    device: &str,
    expires_at: Option<DateTime<Utc>>,
) -> Result<IssuedToken, ApiError> {
    if device.trim().is_empty() || device.len() > 128 {
        return Err(ApiError::invalid("device: 1 to 128 characters"));
    }
    let id = hex(&rand::random::<[u8; 8]>());
    let secret = hex(&rand::random::<[u8; 32]>());
    storage.save_token(&TokenRecord {
        id: id.clone(),
        member_id: member_id.to_owned(),
        device: device.to_owned(),
        hash: hash_secret(&secret),
        created_at: Utc::now(),
        expires_at,
        revoked_at: None,
    })?;
    Ok(IssuedToken {
        token: format!("fc1.{id}.{secret}"),
        token_id: id,
    })
}

/// Checks a bearer token. Every failure is the same `Unauthorized`, except a genuine token (its
/// secret matched, not revoked) past its expiry: `TokenExpired`, so the shell can say so.
pub fn authenticate(
    storage: &dyn Storage,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Caller, ApiError> {
    let mut parts = token.trim().splitn(3, '.');
    let (Some("fc1"), Some(id), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ApiError::Unauthorized);
    };
    if id.len() != 16 || secret.len() != 64 {
        return Err(ApiError::Unauthorized);
    }
    let found = storage.token(id)?;
    let presented = hash_secret(secret);
    let stored = found.as_ref().map_or([0u8; 32], |(t, _)| t.hash);
    let matches: bool = presented.ct_eq(&stored).into();
    let Some((t, member)) = found else {
        return Err(ApiError::Unauthorized);
    };
    if !matches || t.revoked_at.is_some() {
        return Err(ApiError::Unauthorized);
    }
    if t.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::TokenExpired);
    }
    if member.role == Role::Crew && member.crew_id.is_none() {
        return Err(ApiError::Unauthorized);
    }
    Ok(Caller {
        member_id: member.id,
        crew_id: member.crew_id,
        role: member.role,
        device: t.device,
    })
}
