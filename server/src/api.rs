//! HTTP routes (`/v1`): sync for crew devices, the back office for dispatchers, admin, and the
//! customer's progress view. Handlers parse and authenticate, then hand the call to the
//! [`Storage`] on tokio's blocking pool.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
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
use serde::de::DeserializeOwned;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::decompression::RequestDecompressionLayer;
use uuid::Uuid;

use crate::auth::{self, IssuedToken};
use crate::error::ApiError;
use crate::storage::*;

#[derive(Clone)]
pub struct AppState {
    pub storage: Arc<dyn Storage>,
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

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("malformed request: {e}")))
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
        .route("/v1/admin/crews", post(add_crew).get(list_crews))
        .route("/v1/admin/members", post(add_member))
        .route("/v1/admin/tokens", post(issue_token))
        .route("/v1/admin/tokens/{id}", delete(revoke_token))
        .route("/v1/public/progress/{number}", get(progress))
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .layer(RequestDecompressionLayer::new())
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
    Query(q): Query<PullQuery>,
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
    body: Bytes,
) -> Result<Json<PushResponse>> {
    require(&caller, &[Role::Crew])?;
    let req: PushRequest = parse(&body)?;
    if req.ops.len() > MAX_PUSH_BATCH {
        return Err(ApiError::invalid(format!(
            "at most {MAX_PUSH_BATCH} operations a batch"
        )));
    }
    let (answers, server_hlc) =
        blocking(&state, move |s| s.push(&caller, req.device_id, &req.ops)).await?;
    Ok(Json(PushResponse {
        answers,
        server_hlc,
    }))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many { orders: Vec<NewOrder> },
    One(Box<NewOrder>),
}

async fn create_orders(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Vec<OfficeWrite>>)> {
    require(&caller, OFFICE)?;
    let orders = match parse::<OneOrMany>(&body)? {
        OneOrMany::Many { orders } => orders,
        OneOrMany::One(o) => vec![*o],
    };
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
        other => return Err(format!("appointment: unknown mode {other:?}")),
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
    if csv {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(body.as_ref());
        let mut out = Vec::new();
        for (i, row) in reader.deserialize::<CsvOrder>().enumerate() {
            let row = row.map_err(|e| ApiError::invalid(format!("row {}: {e}", i + 2)))?;
            out.push(
                csv_to_order(row).map_err(|e| ApiError::invalid(format!("row {}: {e}", i + 2)))?,
            );
        }
        Ok(out)
    } else {
        Ok(match parse::<OneOrMany>(body)? {
            OneOrMany::Many { orders } => orders,
            OneOrMany::One(o) => vec![*o],
        })
    }
}

/// `text/csv` with a header row, or JSON like `POST /v1/office/orders`.
async fn import_orders(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Vec<OfficeWrite>>)> {
    require(&caller, OFFICE)?;
    let is_csv = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    let orders = parse_import(&body, is_csv)?;
    let out = blocking(&state, move |s| s.create_orders(&caller, orders)).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

async fn list_orders(
    State(state): State<AppState>,
    caller: Caller,
    Query(f): Query<OrderFilter>,
) -> Result<Json<Vec<OrderListItem>>> {
    require(&caller, OFFICE)?;
    Ok(Json(blocking(&state, move |s| s.list_orders(&f)).await?))
}

async fn order_detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<OfficeDetail>> {
    require(&caller, OFFICE)?;
    Ok(Json(blocking(&state, move |s| s.order_detail(id)).await?))
}

async fn patch_order(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Result<Json<OfficeWrite>> {
    require(&caller, OFFICE)?;
    let patch: OrderPatch = parse(&body)?;
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
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Result<Json<OfficeWrite>> {
    require(&caller, OFFICE)?;
    let r: Reschedule = parse(&body)?;
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
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Result<Json<OfficeWrite>> {
    require(&caller, OFFICE)?;
    let r: Reassign = parse(&body)?;
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
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Result<Json<OfficeWrite>> {
    require(&caller, OFFICE)?;
    let c: Cancel = if body.is_empty() {
        Cancel::default()
    } else {
        parse(&body)?
    };
    Ok(Json(
        blocking(&state, move |s| s.cancel_order(&caller, id, &c.note)).await?,
    ))
}

async fn archive(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    require(&caller, OFFICE)?;
    blocking(&state, move |s| s.archive_order(&caller, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_conflicts(
    State(state): State<AppState>,
    caller: Caller,
    Query(f): Query<ConflictFilter>,
) -> Result<Response> {
    require(&caller, OFFICE)?;
    Ok(Json(blocking(&state, move |s| s.conflicts(&f)).await?).into_response())
}

async fn ack_conflict(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
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

async fn resolve_conflict(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Result<Response> {
    require(&caller, OFFICE)?;
    #[derive(Deserialize)]
    struct Body {
        choice: fieldcrew_core::sync::wire::ResolveChoice,
        #[serde(default)]
        note: String,
    }
    let b: Body = parse(&body)?;
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
    Path(id): Path<String>,
    Query(q): Query<DayQuery>,
) -> Result<Json<CrewLoad>> {
    require(&caller, OFFICE)?;
    Ok(Json(
        blocking(&state, move |s| s.crew_load(&id, q.day)).await?,
    ))
}

async fn add_crew(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<StatusCode> {
    require(&caller, &[Role::Admin])?;
    let crew: Crew = parse(&body)?;
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
    body: Bytes,
) -> Result<StatusCode> {
    require(&caller, &[Role::Admin])?;
    let m: Member = parse(&body)?;
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
    body: Bytes,
) -> Result<(StatusCode, Json<IssuedToken>)> {
    require(&caller, &[Role::Admin])?;
    let b: IssueBody = parse(&body)?;
    let t = blocking(&state, move |s| {
        auth::issue_token(s, &b.member_id, &b.device, b.expires_at)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(t)))
}

async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
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
    Path(number): Path<String>,
    Query(q): Query<ProgressQuery>,
) -> Result<Json<CustomerProgress>> {
    Ok(Json(
        blocking(&state, move |s| s.progress(&number, &q.account)).await?,
    ))
}
