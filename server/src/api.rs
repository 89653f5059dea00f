//! HTTP routes (`/v1`): sync for crew devices, the back office for dispatchers, admin, and the
//! customer's progress view. Handlers parse and authenticate, then hand the call to the
//! [`Storage`] on tokio's blocking pool.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use fieldcrew_core::reading::{Register, RegisterSpec};
use fieldcrew_core::sync::wire::{
    ConflictAction, MAX_PAGE, MAX_PUSH_BATCH, PushRequest, PushResponse,
};
use fieldcrew_core::work_order::{
    Appointment, Customer, Meter, MeterRegister, Priority, Site, WorkKind,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::decompression::RequestDecompressionLayer;
use uuid::Uuid;

use crate::auth::{self, IssuedToken};
use crate::error::{ApiError, from_value};
use crate::extract::{JsonBody, PathId, PathText, QueryOf, RawBody, parse_json};
use crate::photos::{Finish, PhotoBlobs, UploadStatus};
use crate::storage::*;

#[derive(Clone)]
pub struct AppState {
    pub storage: Arc<dyn Storage>,
    /// Photo files under the data directory.
    pub photos: Arc<PhotoBlobs>,
}

async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&dyn Storage) -> Result<T> + Send + 'static,
) -> Result<T> {
    let storage = state.storage.clone();
    tokio::task::spawn_blocking(move || f(storage.as_ref()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?
            .to_owned();
        blocking(state, move |s| auth::authenticate(s, &header, Utc::now())).await
    }
}

fn require(caller: &Caller, roles: &[Role]) -> Result<()> {
    if roles.contains(&caller.role) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

const OFFICE: &[Role] = &[Role::Dispatcher, Role::Admin];

/// The whole API, ready to serve.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/sync/me", get(me))
        .route("/v1/sync/pull", get(pull))
        .route("/v1/sync/push", post(push))
        .route("/v1/office/orders", post(create_orders).get(list_orders))
        .route("/v1/office/orders/import", post(import_orders))
        .route(
            "/v1/office/orders/{id}",
            get(order_detail).patch(patch_order),
        )
        .route("/v1/office/orders/{id}/reschedule", post(reschedule))
        .route("/v1/office/orders/{id}/reassign", post(reassign))
        .route("/v1/office/orders/{id}/cancel", post(cancel))
        .route("/v1/office/orders/{id}/archive", post(archive))
        .route("/v1/office/conflicts", get(list_conflicts))
        .route("/v1/office/conflicts/{id}/acknowledge", post(ack_conflict))
        .route("/v1/office/conflicts/{id}/resolve", post(resolve_conflict))
        .route("/v1/office/crews/{id}/load", get(crew_load))
        .route("/v1/office/orders/{id}/documents", post(add_document))
        .route("/v1/photos/{sha}", get(download_photo).put(upload_photo))
        .route("/v1/photos/{sha}/upload", get(upload_status))
        .route(
            "/v1/photos/{sha}/thumbnail",
            get(download_thumbnail).put(upload_thumbnail),
        )
        .route("/v1/admin/crews", post(add_crew).get(list_crews))
        .route("/v1/admin/members", post(add_member))
        .route("/v1/admin/tokens", post(issue_token))
        .route("/v1/admin/tokens/{id}", delete(revoke_token))
        .route("/v1/public/progress/{number}", get(progress))
        // After every route: a known path with another method.
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(crate::extract::MAX_BODY))
        .layer(RequestDecompressionLayer::new())
        // Inside the compression, outside everything that can refuse a request.
        .layer(axum::middleware::map_response(
            crate::error::every_error_is_json,
        ))
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
        .with_state(state)
}

async fn me(caller: Caller) -> Response {
    Json(serde_json::json!({
        "member_id": caller.member_id,
        "crew_id": caller.crew_id,
        "role": caller.role,
        "device": caller.device,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct PullQuery {
    #[serde(default)]
    cursor: i64,
    limit: Option<u32>,
}

async fn pull(
    State(state): State<AppState>,
    caller: Caller,
    QueryOf(q): QueryOf<PullQuery>,
) -> Result<Response> {
    require(&caller, &[Role::Crew])?;
    let crew = caller.crew_id.clone().ok_or(ApiError::Forbidden)?;
    if q.cursor < 0 {
        return Err(ApiError::invalid("cursor: not negative"));
    }
    let limit = q.limit.unwrap_or(500).clamp(1, MAX_PAGE);
    let body = blocking(&state, move |s| s.pull(&crew, q.cursor, limit)).await?;
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response())
}

async fn push(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<PushRequest>,
) -> Result<Json<PushResponse>> {
    require(&caller, &[Role::Crew])?;
    if req.ops.len() > MAX_PUSH_BATCH {
        return Err(ApiError::invalid(format!(
            "at most {MAX_PUSH_BATCH} operations a batch"
        )));
    }
    // The device is the token's: the body's `device_id` (the phone store's own id) is not
    // trusted for anything, so a client cannot borrow another device's identity to make its
    // edits pass for that device's own (docs/sync-protocol.md, "Push").
    let (answers, server_hlc) = blocking(&state, move |s| s.push(&caller, &req.ops)).await?;
    Ok(Json(PushResponse {
        answers,
        server_hlc,
    }))
}

/// Orders as JSON: `{"orders": [NewOrder]}` or one `NewOrder`. Told apart by the `orders` key
/// (not an untagged enum, whose error says only that nothing matched): an error names the field.
fn orders_of(v: serde_json::Value) -> Result<Vec<NewOrder>> {
    match v.get("orders") {
        Some(orders) => {
            from_value(orders).map_err(|m| ApiError::invalid(format!("orders{}", path_tail(&m))))
        }
        None => Ok(vec![from_value(&v).map_err(ApiError::Invalid)?]),
    }
}

/// A described error below `orders`: `[2].kind: …` stays `[2].kind: …`, a top-level one gets
/// its colon.
fn path_tail(described: &str) -> String {
    if described.starts_with('[') {
        described.to_owned()
    } else {
        format!(": {described}")
    }
}

async fn create_orders(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<(StatusCode, Json<Vec<OfficeWrite>>)> {
    require(&caller, OFFICE)?;
    let orders = orders_of(body)?;
    let out = blocking(&state, move |s| s.create_orders(&caller, orders)).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// One CSV row of an import (a header row names the columns).
#[derive(Debug, Deserialize)]
struct CsvOrder {
    number: String,
    kind: WorkKind,
    #[serde(default)]
    priority: Option<Priority>,
    customer_name: String,
    account_number: String,
    phone: String,
    address: String,
    area: String,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
    /// `slot`, `within` or `deadline`.
    appointment: String,
    #[serde(default)]
    slot_start: Option<DateTime<Utc>>,
    #[serde(default)]
    slot_end: Option<DateTime<Utc>>,
    #[serde(default)]
    within_hours: Option<u32>,
    #[serde(default)]
    deadline: Option<DateTime<Utc>>,
    accepted_at: DateTime<Utc>,
    crew_id: String,
    #[serde(default)]
    dispatch_notes: String,
    /// One meter, single register, optional.
    #[serde(default)]
    meter_asset: Option<String>,
    #[serde(default)]
    meter_phases: Option<u8>,
    #[serde(default)]
    meter_multiplier: Option<Decimal>,
    #[serde(default)]
    meter_prepaid: Option<bool>,
    #[serde(default)]
    meter_digits: Option<u8>,
}

fn csv_to_order(row: CsvOrder) -> std::result::Result<NewOrder, String> {
    let appointment = match row.appointment.trim() {
        "slot" => Appointment::Slot {
            start: row.slot_start.ok_or("slot_start is required for a slot")?,
            end: row.slot_end.ok_or("slot_end is required for a slot")?,
        },
        "within" => Appointment::Within {
            hours: row.within_hours.ok_or("within_hours is required")?,
        },
        "deadline" => Appointment::Deadline {
            by: row.deadline.ok_or("deadline is required")?,
        },
        _ => return Err("appointment: slot, within or deadline".into()),
    };
    let location = match (row.lat, row.lon) {
        (Some(lat), Some(lon)) => {
            Some(fieldcrew_core::geo::GeoPoint::new(lat, lon).map_err(|e| e.to_string())?)
        }
        (None, None) => None,
        _ => return Err("lat and lon go together".into()),
    };
    let meters = match row.meter_asset.filter(|a| !a.trim().is_empty()) {
        None => Vec::new(),
        Some(asset) => vec![Meter {
            asset_number: asset,
            phases: row.meter_phases.unwrap_or(1),
            registers: vec![MeterRegister {
                spec: RegisterSpec {
                    register: Register::Total,
                    int_digits: row.meter_digits.unwrap_or(6),
                    decimals: 2,
                },
                last: None,
            }],
            multiplier: row.meter_multiplier.unwrap_or(Decimal::ONE),
            prepaid: row.meter_prepaid.unwrap_or(false),
            expected_daily_kwh: None,
        }],
    };
    Ok(NewOrder {
        id: None,
        number: row.number,
        kind: row.kind,
        priority: row.priority.unwrap_or(Priority::Normal),
        customer: Customer {
            name: row.customer_name,
            account_number: row.account_number,
            phone: row.phone,
        },
        site: Site {
            address: row.address,
            area: row.area,
            location,
        },
        meters,
        required_documents: None,
        appointment,
        accepted_at: row.accepted_at,
        dispatch_notes: row.dispatch_notes,
        crew_id: row.crew_id,
        member_id: None,
        fees: Vec::new(),
    })
}

/// Parses an order import: CSV with a header row (`csv`), or JSON like
/// `POST /v1/office/orders` (`{"orders": [...]}` or one order). Shared by the import endpoint
/// and `fieldcrew-server import-orders`.
pub fn parse_import(body: &Bytes, csv: bool) -> Result<Vec<NewOrder>> {
    if !csv {
        return orders_of(parse_json(body)?);
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(body.as_ref());
    let headers = reader
        .headers()
        .map_err(|e| ApiError::invalid(format!("row 1: {}", csv_problem(&e))))?
        .clone();
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        let record =
            record.map_err(|e| ApiError::invalid(format!("row {row}: {}", csv_problem(&e))))?;
        // The row as column=cell pairs (an empty cell is no value), read like a query string:
        // an error names the column and the problem, never the cell (the csv crate's own text
        // quotes it, `unknown variant `张三``, and does not say which column a type's own
        // error came from).
        let pairs = headers
            .iter()
            .zip(record.iter())
            .filter(|(_, v)| !v.is_empty());
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
        let order: CsvOrder = serde_path_to_error::deserialize(de).map_err(|e| {
            ApiError::invalid(format!(
                "row {row}: {}",
                crate::error::describe_de(e.path(), e.inner())
            ))
        })?;
        out.push(csv_to_order(order).map_err(|e| ApiError::invalid(format!("row {row}: {e}")))?);
    }
    Ok(out)
}

/// A CSV file that cannot be read as rows, told without its cells.
fn csv_problem(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields, the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "not UTF-8".into(),
        _ => "the file could not be read as CSV".into(),
    }
}

/// `text/csv` with a header row, or JSON like `POST /v1/office/orders`.
async fn import_orders(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<Vec<OfficeWrite>>)> {
    require(&caller, OFFICE)?;
    let is_csv = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/csv"));
    if !is_csv && !crate::extract::is_json(&headers) {
        return Err(ApiError::UnsupportedMediaType(
            "an import is text/csv (with a header row) or application/json".into(),
        ));
    }
    let orders = parse_import(&body, is_csv)?;
    let out = blocking(&state, move |s| s.create_orders(&caller, orders)).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

async fn list_orders(
    State(state): State<AppState>,
    caller: Caller,
    QueryOf(f): QueryOf<OrderFilter>,
) -> Result<Json<Vec<OrderListItem>>> {
    require(&caller, OFFICE)?;
    Ok(Json(blocking(&state, move |s| s.list_orders(&f)).await?))
}

async fn order_detail(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<OfficeDetail>> {
    require(&caller, OFFICE)?;
    let mut detail = blocking(&state, move |s| s.order_detail(id)).await?;
    for p in &mut detail.photos {
        // Storage says whether the record is backed; the bytes must be in place too.
        p.on_server = p.on_server && state.photos.photo_file(&p.photo.sha256, false).is_some();
    }
    for d in &mut detail.documents {
        d.received = detail
            .photos
            .iter()
            .any(|p| p.on_server && p.photo.kind == d.kind);
    }
    Ok(Json(detail))
}

async fn patch_order(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    JsonBody(patch): JsonBody<OrderPatch>,
) -> Result<Json<OfficeWrite>> {
    require(&caller, OFFICE)?;
    Ok(Json(
        blocking(&state, move |s| s.update_order(&caller, id, patch)).await?,
    ))
}

#[derive(Deserialize)]
struct Reschedule {
    appointment: Appointment,
}

async fn reschedule(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    JsonBody(r): JsonBody<Reschedule>,
) -> Result<Json<OfficeWrite>> {
    require(&caller, OFFICE)?;
    let patch = OrderPatch {
        appointment: Some(r.appointment),
        ..Default::default()
    };
    Ok(Json(
        blocking(&state, move |s| s.update_order(&caller, id, patch)).await?,
    ))
}

#[derive(Deserialize)]
struct Reassign {
    crew_id: String,
    #[serde(default)]
    member_id: Option<String>,
}

async fn reassign(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    JsonBody(r): JsonBody<Reassign>,
) -> Result<Json<OfficeWrite>> {
    require(&caller, OFFICE)?;
    let patch = OrderPatch {
        crew_id: Some(r.crew_id),
        member_id: Some(r.member_id),
        ..Default::default()
    };
    Ok(Json(
        blocking(&state, move |s| s.update_order(&caller, id, patch)).await?,
    ))
}

#[derive(Deserialize, Default)]
struct Cancel {
    #[serde(default)]
    note: String,
}

async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<OfficeWrite>> {
    require(&caller, OFFICE)?;
    // The note is optional, and so is the body.
    let c: Cancel = if body.is_empty() {
        Cancel::default()
    } else {
        crate::extract::require_json(&headers)?;
        parse_json(&body)?
    };
    Ok(Json(
        blocking(&state, move |s| s.cancel_order(&caller, id, &c.note)).await?,
    ))
}

async fn archive(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<StatusCode> {
    require(&caller, OFFICE)?;
    blocking(&state, move |s| s.archive_order(&caller, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_conflicts(
    State(state): State<AppState>,
    caller: Caller,
    QueryOf(f): QueryOf<ConflictFilter>,
) -> Result<Response> {
    require(&caller, OFFICE)?;
    Ok(Json(blocking(&state, move |s| s.conflicts(&f)).await?).into_response())
}

async fn ack_conflict(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Response> {
    require(&caller, OFFICE)?;
    Ok(Json(
        blocking(&state, move |s| {
            s.act_on_conflict(&caller, id, &ConflictAction::Acknowledge)
        })
        .await?,
    )
    .into_response())
}

#[derive(Deserialize)]
struct ResolveBody {
    choice: fieldcrew_core::sync::wire::ResolveChoice,
    #[serde(default)]
    note: String,
}

async fn resolve_conflict(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    JsonBody(b): JsonBody<ResolveBody>,
) -> Result<Response> {
    require(&caller, OFFICE)?;
    let action = ConflictAction::Resolve {
        choice: b.choice,
        note: b.note,
    };
    Ok(
        Json(blocking(&state, move |s| s.act_on_conflict(&caller, id, &action)).await?)
            .into_response(),
    )
}

#[derive(Deserialize)]
struct DayQuery {
    day: NaiveDate,
}

async fn crew_load(
    State(state): State<AppState>,
    caller: Caller,
    PathText(id): PathText,
    QueryOf(q): QueryOf<DayQuery>,
) -> Result<Json<CrewLoad>> {
    require(&caller, OFFICE)?;
    Ok(Json(
        blocking(&state, move |s| s.crew_load(&id, q.day)).await?,
    ))
}

async fn add_crew(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(crew): JsonBody<Crew>,
) -> Result<StatusCode> {
    require(&caller, &[Role::Admin])?;
    blocking(&state, move |s| s.add_crew(&crew)).await?;
    Ok(StatusCode::CREATED)
}

async fn list_crews(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<Crew>>> {
    require(&caller, OFFICE)?;
    Ok(Json(blocking(&state, |s| s.crews()).await?))
}

async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(m): JsonBody<Member>,
) -> Result<StatusCode> {
    require(&caller, &[Role::Admin])?;
    blocking(&state, move |s| s.add_member(&m)).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Deserialize)]
struct IssueBody {
    member_id: String,
    device: String,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

async fn issue_token(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<IssueBody>,
) -> Result<(StatusCode, Json<IssuedToken>)> {
    require(&caller, &[Role::Admin])?;
    let t = blocking(&state, move |s| {
        auth::issue_token(s, &b.member_id, &b.device, b.expires_at)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(t)))
}

async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    PathText(id): PathText,
) -> Result<StatusCode> {
    require(&caller, &[Role::Admin])?;
    if blocking(&state, move |s| s.revoke_token(&id, Utc::now())).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

#[derive(Deserialize)]
struct ProgressQuery {
    account: String,
}

/// No token: the customer quotes the order number and their account number.
async fn progress(
    State(state): State<AppState>,
    PathText(number): PathText,
    QueryOf(q): QueryOf<ProgressQuery>,
) -> Result<Json<CustomerProgress>> {
    let blobs = state.photos.clone();
    let on_server = move |sha: &str| blobs.photo_file(sha, false).is_some();
    Ok(Json(
        blocking(&state, move |s| s.progress(&number, &q.account, &on_server)).await?,
    ))
}

// Photo transfer (docs/sync-protocol.md, "Photo transfer").

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Upload,
    Download,
}

/// Who may touch a content address (docs/sync-protocol.md, "Photo transfer"). The back office
/// always, when some order has it. For uploads, a crew when one of its orders has a record of
/// it, or a member for a record they made (on an order their crew held). For downloads, a crew
/// when a *backed* record of it is on one of its orders: one whose author has shown the server
/// the bytes (uploaded them, hash checked, or added the document in the office). A record alone
/// proves nothing (anyone who read a hash can push one on their own order), so it never opens
/// the bytes to its crew. Anything else is `404`, as if the photo did not exist. The record
/// returned is the caller's own when there is one.
async fn photo_access(
    state: &AppState,
    caller: &Caller,
    sha: &str,
    access: Access,
) -> Result<fieldcrew_core::store::Photo> {
    if !fieldcrew_core::photo::is_content_address(sha) {
        return Err(ApiError::NotFound);
    }
    let key = sha.to_owned();
    let refs = blocking(state, move |s| s.photo_refs(&key)).await?;
    let office = OFFICE.contains(&caller.role);
    let crew = caller.crew_id.as_deref();
    let allowed = |r: &PhotoRef| {
        let crews_order = crew == Some(r.crew_id.as_str());
        office
            || match access {
                Access::Upload => crews_order || r.photo.member_id == caller.member_id,
                Access::Download => crews_order && !r.archived && r.backed,
            }
    };
    let mut allowed: Vec<PhotoRef> = refs.into_iter().filter(|r| allowed(r)).collect();
    let own = allowed
        .iter()
        .position(|r| r.photo.member_id == caller.member_id)
        .unwrap_or(0);
    if own < allowed.len() {
        Ok(allowed.swap_remove(own).photo)
    } else {
        Err(ApiError::NotFound)
    }
}

/// How long a photo request waits for the upload of the same content address under way to end
/// before it answers as things are (`GET …/upload`) or gives up (`PUT`, `409`). A phone that
/// resumes right after a cut usually finds the server still finishing the cut request (its last
/// bytes, the fsync); waiting a moment gives it the settled offset instead of a spent attempt.
const UPLOAD_SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Waits (at most [`UPLOAD_SETTLE`]) until no upload of `sha` is under way; `false` if one
/// still is.
async fn upload_settled(state: &AppState, sha: &str) -> bool {
    let step = std::time::Duration::from_millis(5);
    let deadline = tokio::time::Instant::now() + UPLOAD_SETTLE;
    while state.photos.is_busy(sha) {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(step).await;
    }
    true
}

async fn upload_status(
    State(state): State<AppState>,
    caller: Caller,
    PathText(sha): PathText,
) -> Result<Json<UploadStatus>> {
    photo_access(&state, &caller, &sha, Access::Upload).await?;
    upload_settled(&state, &sha).await;
    Ok(Json(state.photos.status(&sha)?))
}

#[derive(Deserialize)]
struct OffsetQuery {
    #[serde(default)]
    offset: u64,
}

/// The reply to a photo upload whose body was cut short (the connection dropped before the
/// announced bytes were in): `408` with the error body, which clients retry. What arrived is kept
/// (appended and fsynced as it came), so the client asks `GET …/upload` and resumes from there.
/// Not `4xx`-final like `422`: nothing is wrong with the request, only with the link.
fn cut_short() -> Response {
    (
        StatusCode::REQUEST_TIMEOUT,
        Json(fieldcrew_core::sync::wire::ErrorBody {
            error: "cut_short".into(),
            message: "the upload was cut short; ask what the server has and resume".into(),
        }),
    )
        .into_response()
}

/// `PUT /v1/photos/{sha}?offset=N`: the photo's bytes from `N` on (all of the rest, or a piece
/// of it). Appends as the bytes arrive, so what came before a cut connection is kept; verifies
/// the hash once all bytes are in. Answers what the server holds now.
async fn upload_photo(
    State(state): State<AppState>,
    caller: Caller,
    PathText(sha): PathText,
    QueryOf(q): QueryOf<OffsetQuery>,
    body: axum::body::Body,
) -> Result<Response> {
    use http_body_util::BodyExt;
    use std::io::Write;
    let photo = photo_access(&state, &caller, &sha, Access::Upload).await?;
    let total = photo.bytes;
    let status = state.photos.status(&sha)?;
    if status.complete {
        return Ok(Json(status).into_response()); // a repeat is done
    }
    let mut slot = state.photos.claim(&sha);
    if slot.is_none() && upload_settled(&state, &sha).await {
        slot = state.photos.claim(&sha);
    }
    let slot =
        slot.ok_or_else(|| ApiError::Conflict("an upload of this photo is under way".into()))?;
    let mut file = match state.photos.append_at(&slot, q.offset)? {
        Ok(f) => f,
        Err(have) => {
            return Err(ApiError::Conflict(format!(
                "the server has {have} bytes of this photo; send from there"
            )));
        }
    };
    let mut written = q.offset;
    let mut body = body;
    let mut cut = false;
    loop {
        match body.frame().await {
            None => break,
            Some(Err(_)) => {
                cut = true;
                break;
            }
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if written + data.len() as u64 > total {
                    file.sync_all()?;
                    return Err(ApiError::invalid("more bytes than the photo has"));
                }
                file.write_all(&data)?;
                written += data.len() as u64;
            }
        }
    }
    file.sync_all()?;
    drop(file);
    if cut {
        return Ok(cut_short());
    }
    let blobs = state.photos.clone();
    let storage = state.storage.clone();
    let (key, member) = (sha.clone(), caller.member_id.clone());
    let finish = tokio::task::spawn_blocking(move || {
        // The uploader has shown the bytes: their records of this photo are backed.
        let r = blobs.finish(&slot, total, || storage.add_photo_owner(&key, &member));
        drop(slot);
        r
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    match finish {
        Finish::Complete => Ok(Json(state.photos.status(&sha)?).into_response()),
        Finish::Incomplete(received) => Ok(Json(UploadStatus {
            received,
            complete: false,
            thumbnail: false,
        })
        .into_response()),
        Finish::Mismatch => Err(ApiError::invalid(
            "the bytes do not match the content address; start again from 0",
        )),
    }
}

/// `PUT /v1/photos/{sha}/thumbnail`: the whole thumbnail (small), after the photo. A body cut
/// short is answered like a cut photo upload (`408`, retried), not as a bad request.
async fn upload_thumbnail(
    State(state): State<AppState>,
    caller: Caller,
    PathText(sha): PathText,
    body: axum::body::Body,
) -> Result<Response> {
    use http_body_util::BodyExt;
    let photo = photo_access(&state, &caller, &sha, Access::Upload).await?;
    let mut received = Vec::new();
    let mut body = body;
    loop {
        match body.frame().await {
            None => break,
            Some(Err(_)) => return Ok(cut_short()),
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if (received.len() + data.len()) as u64 > photo.thumbnail_bytes {
                    return Err(ApiError::invalid(
                        "the thumbnail's size differs from its record",
                    ));
                }
                received.extend_from_slice(&data);
            }
        }
    }
    let body = Bytes::from(received);
    if body.len() as u64 != photo.thumbnail_bytes {
        return Err(ApiError::invalid(
            "the thumbnail's size differs from its record",
        ));
    }
    if state.photos.photo_file(&sha, false).is_none() {
        return Err(ApiError::Conflict("upload the photo first".into()));
    }
    let status = state.photos.status(&sha)?;
    if status.thumbnail {
        return Ok(Json(status).into_response()); // a repeat is done
    }
    // Thumbnails are not content-addressed: only someone who has shown the server the photo's
    // bytes may supply the one every crew-mate will see.
    let (key, member) = (sha.clone(), caller.member_id.clone());
    if !blocking(&state, move |s| s.is_photo_owner(&key, &member)).await? {
        return Err(ApiError::Conflict(
            "the thumbnail comes from the member who uploaded the photo".into(),
        ));
    }
    let blobs = state.photos.clone();
    let key = sha.clone();
    tokio::task::spawn_blocking(move || blobs.put_whole(&key, true, &body))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(state.photos.status(&sha)?).into_response())
}

fn range_start(headers: &HeaderMap) -> Result<u64> {
    let Some(v) = headers.get(axum::http::header::RANGE) else {
        return Ok(0);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.strip_prefix("bytes="))
        .and_then(|s| s.strip_suffix('-'))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| ApiError::invalid("only ranges of the form bytes=N- are served"))
}

async fn serve_photo(
    state: AppState,
    caller: Caller,
    sha: String,
    headers: HeaderMap,
    thumbnail: bool,
) -> Result<Response> {
    photo_access(&state, &caller, &sha, Access::Download).await?;
    let start = range_start(&headers)?;
    let blobs = state.photos.clone();
    let key = sha.clone();
    let total = blobs
        .photo_file(&sha, thumbnail)
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .ok_or(ApiError::NotFound)?;
    if start > total
        || (start == total && total > 0 && headers.contains_key(axum::http::header::RANGE))
    {
        return Ok((
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(
                axum::http::header::CONTENT_RANGE,
                format!("bytes */{total}"),
            )],
        )
            .into_response());
    }
    let bytes = tokio::task::spawn_blocking(move || blobs.read_from(&key, thumbnail, start))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let jpeg = (CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    if headers.contains_key(axum::http::header::RANGE) {
        let end = start + bytes.len() as u64;
        Ok((
            StatusCode::PARTIAL_CONTENT,
            [
                jpeg,
                (
                    axum::http::header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!(
                        "bytes {start}-{}/{total}",
                        end.saturating_sub(1)
                    ))
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
                ),
            ],
            bytes,
        )
            .into_response())
    } else {
        Ok(([jpeg], bytes).into_response())
    }
}

async fn download_photo(
    State(state): State<AppState>,
    caller: Caller,
    PathText(sha): PathText,
    headers: HeaderMap,
) -> Result<Response> {
    serve_photo(state, caller, sha, headers, false).await
}

async fn download_thumbnail(
    State(state): State<AppState>,
    caller: Caller,
    PathText(sha): PathText,
    headers: HeaderMap,
) -> Result<Response> {
    serve_photo(state, caller, sha, headers, true).await
}

#[derive(Deserialize)]
struct KindQuery {
    kind: fieldcrew_core::work_order::DocumentKind,
}

/// `POST /v1/office/orders/{id}/documents?kind=…`: a document the customer supplied online (the
/// image as the body). Normalised with the core's own pipeline, stored, and linked to the order
/// so the crew's devices pull it and download it.
async fn add_document(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    QueryOf(q): QueryOf<KindQuery>,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<fieldcrew_core::store::Photo>)> {
    use fieldcrew_core::photo::{NormalizeOptions, normalize};
    require(&caller, OFFICE)?;
    let blobs = state.photos.clone();
    let kind = q.kind;
    let n = tokio::task::spawn_blocking(move || -> Result<_> {
        let n = normalize(&body, &NormalizeOptions::for_kind(kind))
            .map_err(|e| ApiError::invalid(format!("photo: {e}")))?;
        if n.jpeg.len() as u64 > crate::photos::MAX_PHOTO_BYTES {
            return Err(ApiError::invalid("the photo is too large"));
        }
        // The thumbnail first: a photo file then always has its thumbnail.
        blobs.put_whole(&n.sha256, true, &n.thumbnail)?;
        blobs.put_whole(&n.sha256, false, &n.jpeg)?;
        Ok(n)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let now = Utc::now();
    let photo = fieldcrew_core::store::Photo {
        id: Uuid::now_v7(),
        order_id: id,
        kind,
        sha256: n.sha256.clone(),
        bytes: n.jpeg.len() as u64,
        width: n.width,
        height: n.height,
        thumbnail_bytes: n.thumbnail.len() as u64,
        thumbnail_width: n.thumbnail_width,
        thumbnail_height: n.thumbnail_height,
        source_format: n.source.format,
        original_width: n.source.width,
        original_height: n.source.height,
        captured_at: None,
        location: None,
        added_at: now,
        member_id: caller.member_id.clone(),
        hlc: fieldcrew_core::hlc::Hlc::ZERO,
        sensitive: kind.is_sensitive(),
    };
    let photo = blocking(&state, move |s| s.add_office_photo(&caller, photo)).await?;
    Ok((StatusCode::CREATED, Json(photo)))
}
