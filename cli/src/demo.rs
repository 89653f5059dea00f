//! `fieldcrew demo`: a crew's offline day and the sync that follows, in one command.
//!
//! 1. The reference server starts on loopback in a directory of its own and is seeded with a
//!    city's day ([`CityDay`]): several crews, their members, a dispatcher, a few hundred orders
//!    of every kind with Chinese names and addresses.
//! 2. Two crew phones (encrypted stores, each in a directory the `fieldcrew` CLI can open) sign
//!    in and download their crew's orders, then go offline and work: arrivals and completions,
//!    a new meter's start reading, removed meters' final readings (one register rolled over, one
//!    high consumption, both confirmed with a reason), a prepaid meter replaced with its balance
//!    and a new card, document photos, a site survey, an evaluation, crew notes.
//! 3. Meanwhile dispatch reschedules one order, cancels one the crew is completing, corrects the
//!    notes the crew is also editing, and adds an urgent repair.
//! 4. Both phones sync through a byte-counting proxy (the order data, then the photos' bytes on
//!    their own queue), and the report tells what went up and down, how many photos reached the
//!    server, what merged, each conflict and the rule that decided it, and the figures; what the
//!    story's orders look like afterwards is read back from the back-office API.
//!
//! The phones' clocks are manual (a working day from 08:05 Beijing time), the fixtures seeded:
//! every run tells the same story. The data directories stay for inspection.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use fieldcrew_core::clock::ManualClock;
use fieldcrew_core::fixtures::{CityDay, local_midnight};
use fieldcrew_core::geo::Fix;
use fieldcrew_core::reading::{
    Confirmation, ConfirmedWarning, HistoryPoint, ReadingPurpose, Register, RegisterSpec,
    WarningCode,
};
use fieldcrew_core::store::{ReadingEntry, RegisterValue, ReplacementEntry, StatusReport, Store};
use fieldcrew_core::survey::{ConnectionPoint, SiteSurvey, Voltage};
use fieldcrew_core::sync::wire::{Conflict, ConflictRule};
use fieldcrew_core::sync::{SyncClient, SyncConfig, SyncReport, TransferReport};
use fieldcrew_core::work_order::{
    Appointment, DocumentKind, Meter, MeterRegister, Priority, Status, SuspendReason, WorkKind,
    WorkOrder,
};
use fieldcrew_server::storage::{ConflictFilter, OfficeDetail, OrderFilter, OrderPatch};
use fieldcrew_server::{
    Caller, Capacity, Crew, Member, NewOrder, Role, RunningServer, Storage, issue_token,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::device::{DeviceConfig, DeviceDir};
use crate::error::{CliError, CliResult};
use crate::proxy::{CountingProxy, TrafficSnapshot};

/// What the demo plays.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Orders seeded across the city's crews (spread over yesterday, today and tomorrow).
    pub orders: usize,
    pub seed: u64,
    /// Where the server's and phones' directories go; a new directory under the system's
    /// temporary directory when `None`. Either way it is left in place.
    pub dir: Option<PathBuf>,
    /// Long edge in pixels of the generated document photos.
    pub photo_edge: u32,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            orders: 360,
            seed: 20_261_125,
            dir: None,
            photo_edge: 1600,
        }
    }
}

/// One crew's transfer in one sync: the order data (push, then pull), then the photos' bytes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncFigures {
    pub pushed: u64,
    pub applied: u64,
    pub merged: u64,
    pub conflicts: u64,
    pub rejected: u64,
    pub orders_received: u64,
    pub orders_removed: u64,
    pub conflicts_received: u64,
    /// Requests and body bytes of the order data (push and pull), compressed as sent.
    pub requests: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Photos whose bytes the server took and verified in this sync.
    pub photos_uploaded: u64,
    /// Photos that did not get through (they go again at the next sync).
    pub photo_upload_failures: u64,
    /// Photo bytes the client handed to the network (photos and thumbnails).
    pub photo_bytes_sent: u64,
    pub photos_downloaded: u64,
    /// Requests and body bytes of the photo queue through the proxy.
    pub photo_requests: u64,
    pub photo_bytes_up: u64,
    pub photo_bytes_down: u64,
    pub seconds: f64,
}

impl SyncFigures {
    fn of(
        report: &SyncReport,
        data: TrafficSnapshot,
        photos: &TransferReport,
        photo_traffic: TrafficSnapshot,
        seconds: f64,
    ) -> Self {
        SyncFigures {
            pushed: report.pushed,
            applied: report.applied,
            merged: report.merged,
            conflicts: report.conflicts,
            rejected: report.rejected,
            orders_received: report.orders_received,
            orders_removed: report.orders_removed,
            conflicts_received: report.conflicts_received,
            requests: data.requests,
            bytes_up: data.bytes_up,
            bytes_down: data.bytes_down,
            photos_uploaded: photos.uploaded,
            photo_upload_failures: photos.upload_failures,
            photo_bytes_sent: photos.bytes_sent,
            photos_downloaded: photos.downloaded,
            photo_requests: photo_traffic.requests,
            photo_bytes_up: photo_traffic.bytes_up,
            photo_bytes_down: photo_traffic.bytes_down,
            seconds,
        }
    }

    /// Adds the photo transfer of a later sync (photos that failed go again then).
    fn add_photos(&mut self, later: &SyncFigures) {
        self.photos_uploaded += later.photos_uploaded;
        self.photo_upload_failures += later.photo_upload_failures;
        self.photo_bytes_sent += later.photo_bytes_sent;
        self.photos_downloaded += later.photos_downloaded;
        self.photo_requests += later.photo_requests;
        self.photo_bytes_up += later.photo_bytes_up;
        self.photo_bytes_down += later.photo_bytes_down;
    }
}

/// A reading warning the member confirmed with a reason before the reading was saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarningConfirmed {
    pub order_number: String,
    pub code: WarningCode,
    pub register: Register,
    /// The value as entered.
    pub value: String,
    pub message: String,
    pub reason: String,
}

/// What a phone did offline, counted from its own records.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OfflineWork {
    pub status_reports: u64,
    pub arrivals: u64,
    pub completions: u64,
    pub suspensions: u64,
    pub readings: u64,
    pub warnings_confirmed: Vec<WarningConfirmed>,
    pub replacements: u64,
    pub photos: u64,
    pub photo_bytes: u64,
    pub surveys: u64,
    pub evaluations: u64,
    pub notes: u64,
    /// Outbox entries by entity, before the evening sync.
    pub outbox: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhoneReport {
    pub name: String,
    pub member: String,
    pub crew: String,
    pub dir: PathBuf,
    pub morning: SyncFigures,
    pub offline: OfflineWork,
    /// The evening sync; its photo figures include the second round's (photos retried then).
    pub evening: SyncFigures,
    /// Changes the server refused, as `entity: reason`.
    pub rejected: Vec<String>,
    /// Orders on the phone whose status and version match the server's after the sync.
    pub orders_in_agreement: u64,
    pub orders_on_phone: u64,
    /// Photos on the phone after the sync, and how many of them the back office shows with
    /// their verified bytes on the server.
    pub photos_on_phone: u64,
    pub photos_on_server: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConflictLine {
    pub order_number: String,
    pub field: String,
    pub rule: ConflictRule,
    pub kept_value: serde_json::Value,
    pub kept_by: String,
    pub lost_value: serde_json::Value,
    pub lost_by: String,
    pub explanation: String,
}

/// A reading as the back office holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeReading {
    pub meter: String,
    pub purpose: ReadingPurpose,
    pub register: Register,
    pub value: Decimal,
    pub confirmed: Vec<ConfirmedWarning>,
}

/// A meter replacement as the back office holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeReplacement {
    pub old_meter: String,
    pub old_balance: Option<Decimal>,
    pub new_meter: String,
    pub new_card: Option<String>,
}

/// A photo as the back office sees it: `on_server` once its verified bytes are there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomePhoto {
    pub kind: DocumentKind,
    pub bytes: u64,
    pub on_server: bool,
}

/// One of the orders the story turns on, after the sync, from the back-office API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub order_number: String,
    pub kind: WorkKind,
    /// What happened to it, in a few words.
    pub what: String,
    pub status: Status,
    pub appointment: Appointment,
    pub crew_notes: String,
    pub readings: Vec<OutcomeReading>,
    pub replacement: Option<OutcomeReplacement>,
    pub survey: Option<SiteSurvey>,
    pub photos: Vec<OutcomePhoto>,
    /// Required documents the office has no verified photo of yet.
    pub documents_missing: Vec<DocumentKind>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Totals {
    pub ops_pushed: u64,
    pub applied: u64,
    pub merged: u64,
    pub conflicts: u64,
    pub rejected: u64,
    pub orders_down: u64,
    /// Order data, both phones, morning and evening (compressed, as sent).
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub photos_uploaded: u64,
    pub photo_upload_failures: u64,
    /// Request bodies of the photo queue through the proxies (photos and thumbnails).
    pub photo_bytes_up: u64,
    pub sync_seconds: f64,
    pub total_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoReport {
    pub day: NaiveDate,
    pub dir: PathBuf,
    pub server_dir: PathBuf,
    pub orders_seeded: u64,
    pub orders_by_kind: BTreeMap<String, u64>,
    pub crews: Vec<String>,
    pub capacity_warnings: u64,
    pub phones: Vec<PhoneReport>,
    /// What dispatch did while the phones were offline.
    pub dispatch: Vec<String>,
    pub conflicts: Vec<ConflictLine>,
    /// The end state of the orders the story turns on, as the back office sees it.
    pub outcomes: Vec<Outcome>,
    pub totals: Totals,
}

const CREWS: &[(&str, &str)] = &[
    ("crew-xihu", "西湖供电所 装表接电一班"),
    ("crew-gongshu", "拱墅供电所 营业班"),
    ("crew-binjiang", "滨江供电所 装表接电班"),
    ("crew-xiaoshan", "萧山城区供电所 抢修班"),
];

const MEMBERS: &[(&str, &str, &str)] = &[
    ("m-wangjh", "王建华", "crew-xihu"),
    ("m-zhaoq", "赵强", "crew-xihu"),
    ("m-sunl", "孙磊", "crew-gongshu"),
    ("m-hej", "何军", "crew-gongshu"),
    ("m-limin", "李明", "crew-binjiang"),
    ("m-zhouj", "周杰", "crew-binjiang"),
    ("m-xut", "徐涛", "crew-xiaoshan"),
    ("m-gaoy", "高勇", "crew-xiaoshan"),
];

const DISPATCHER: (&str, &str) = ("d-chenj", "陈静");

/// Runs the demo. `say` gets one line per step as the story unfolds.
pub fn run(options: &DemoOptions, say: &mut dyn FnMut(&str)) -> CliResult<DemoReport> {
    let started = Instant::now();
    let dir = match &options.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            if std::fs::read_dir(d)?.next().is_some() {
                return Err(CliError::new(format!(
                    "{} is not empty; the demo needs an empty or new directory",
                    d.display()
                )));
            }
            d.clone()
        }
        None => tempfile::Builder::new()
            .prefix("fieldcrew-demo-")
            .tempdir()?
            .keep(),
    };
    let day = (Utc::now() + Duration::hours(8)).date_naive();
    let day_start = local_midnight(day);

    // --- The server and the city's day. ---
    let server_dir = dir.join("server");
    let server = RunningServer::start(&server_dir)?;
    let storage = server.storage();
    say(&format!(
        "server      reference server on {} (data in {})",
        server.url(),
        server_dir.display()
    ));
    for (id, name) in CREWS {
        storage.add_crew(&Crew {
            id: (*id).into(),
            name: (*name).into(),
            capacity: Capacity {
                surveys: 10,
                installs: 14,
                checks: 14,
            },
        })?;
    }
    for (id, name, crew) in MEMBERS {
        storage.add_member(&Member {
            id: (*id).into(),
            name: (*name).into(),
            crew_id: Some((*crew).into()),
            role: Role::Crew,
        })?;
    }
    storage.add_member(&Member {
        id: DISPATCHER.0.into(),
        name: DISPATCHER.1.into(),
        crew_id: None,
        role: Role::Dispatcher,
    })?;
    let dispatcher = Caller {
        member_id: DISPATCHER.0.into(),
        crew_id: None,
        role: Role::Dispatcher,
        device: "dispatch-desk".into(),
    };

    let mut city = CityDay::new(options.seed, options.orders.max(40), day);
    city.crews = CREWS.iter().map(|(id, _)| (*id).to_owned()).collect();
    city.spread_days = 1;
    let mut generated = city.generate();
    let plan_a = Plan::pick(&mut generated, "crew-xihu", PHONE_A_ROLES, day_start)?;
    let plan_b = Plan::pick(&mut generated, "crew-binjiang", PHONE_B_ROLES, day_start)?;
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    for o in &generated {
        *by_kind.entry(o.kind.to_string()).or_default() += 1;
    }
    let new_orders: Vec<NewOrder> = generated.iter().map(to_new_order).collect();
    let seeded = new_orders.len() as u64;
    let writes = storage.create_orders(&dispatcher, new_orders)?;
    let capacity_warnings: u64 = writes.iter().map(|w| w.warnings.len() as u64).sum();
    say(&format!(
        "dispatch    {seeded} orders for {day} and the days around it, {} crews, {} members; {capacity_warnings} capacity warnings",
        CREWS.len(),
        MEMBERS.len()
    ));

    // --- Two phones sign in and download the day. ---
    let mut phones = Vec::new();
    for (n, (name, member, crew, member_name)) in [
        ("phone-wang", "m-wangjh", "crew-xihu", "王建华"),
        ("phone-li", "m-limin", "crew-binjiang", "李明"),
    ]
    .into_iter()
    .enumerate()
    {
        let clock = Arc::new(ManualClock::new(
            day_start + Duration::hours(8) + Duration::minutes(5),
        ));
        let token = issue_token(storage, member, name, None)?.token;
        let proxy = CountingProxy::start(&server.url())?;
        let device = DeviceDir::new(dir.join(name));
        let store = device.login(
            &DeviceConfig {
                server_url: server.url(),
                token: token.clone(),
                member_id: member.into(),
                crew_id: crew.into(),
                extra_root_certs_pem: None,
            },
            Some(clock.clone()),
        )?;
        let client = SyncClient::new(SyncConfig::new(proxy.url.clone(), token))?;
        phones.push(Phone {
            name,
            member,
            member_name,
            crew,
            device,
            store,
            client,
            proxy,
            clock,
            work: OfflineWork::default(),
            photo_edge: options.photo_edge,
            photo_base: 1000 * n as u32,
        });
    }
    let mut morning = Vec::new();
    for phone in &phones {
        let figures = phone.sync()?;
        say(&format!(
            "{:<11} {} ({}) signs in and downloads {} orders: {} in {:.2} s",
            phone.name,
            phone.member_name,
            phone.crew,
            figures.orders_received,
            human_bytes(figures.bytes_down),
            figures.seconds
        ));
        morning.push(figures);
    }

    // --- Offline: the crews work. ---
    say("offline     both phones lose the network for the working day");
    let mut outcomes = Vec::new();
    {
        let [a, b] = &mut phones[..] else {
            return Err(CliError::new("two phones expected"));
        };
        play_phone_a(a, &plan_a, say, &mut outcomes)?;
        play_phone_b(b, &plan_b, say, &mut outcomes)?;
    }

    // --- Meanwhile, dispatch. ---
    let mut dispatch = Vec::new();
    let tomorrow_afternoon = local_midnight(day + Duration::days(1)) + Duration::hours(14);
    let suspended = plan_a.order(Part::Suspend);
    storage.update_order(
        &dispatcher,
        suspended.id,
        OrderPatch {
            appointment: Some(Appointment::Slot {
                start: tomorrow_afternoon,
                end: tomorrow_afternoon + Duration::hours(2),
            }),
            ..Default::default()
        },
    )?;
    dispatch.push(format!(
        "{} rescheduled to tomorrow 14:00-16:00 (the customer called 95598)",
        suspended.number
    ));
    let cancelled = plan_a.order(Part::Cancelled);
    storage.cancel_order(&dispatcher, cancelled.id, "客户申请撤销校验")?;
    dispatch.push(format!(
        "{} cancelled at the customer's request (\"客户申请撤销校验\")",
        cancelled.number
    ));
    let noted = plan_a.order(Part::Notes);
    storage.update_order(
        &dispatcher,
        noted.id,
        OrderPatch {
            crew_notes: Some("客户来电：请从北门进入小区".into()),
            ..Default::default()
        },
    )?;
    dispatch.push(format!(
        "{} crew notes corrected from the office (\"客户来电：请从北门进入小区\")",
        noted.number
    ));
    let urgent = urgent_repair(&plan_b, day_start, &phones[1]);
    let urgent_number = urgent.number.clone();
    let urgent_id = storage
        .create_orders(&dispatcher, vec![urgent])?
        .first()
        .map(|w| w.order.id)
        .ok_or_else(|| CliError::new("the server created no order"))?;
    dispatch.push(format!(
        "{urgent_number} new urgent fault repair for crew-binjiang (故障抢修, within 4 hours)"
    ));
    for line in &dispatch {
        say(&format!("dispatch    {line}"));
    }

    // --- Evening: both phones sync. ---
    say("online      both phones sync");
    let sync_started = Instant::now();
    let mut evening = Vec::new();
    for phone in &mut phones {
        phone.work.outbox = phone
            .store
            .unsynced_work()?
            .by_entity
            .into_iter()
            .map(|(e, n)| (e.to_string(), n))
            .collect();
        let figures = phone.sync()?;
        say(&format!(
            "{:<11} pushed {} changes ({} applied, {} merged, {} conflicts, {} rejected), received {} orders; uploaded {} photos ({}), {} failed",
            phone.name,
            figures.pushed,
            figures.applied,
            figures.merged,
            figures.conflicts,
            figures.rejected,
            figures.orders_received,
            figures.photos_uploaded,
            human_bytes(figures.photo_bytes_up),
            figures.photo_upload_failures
        ));
        evening.push(figures);
    }
    // A second round so each phone also sees what the other's sync changed on the server (and
    // any photo that did not get through goes again).
    for (phone, figures) in phones.iter().zip(evening.iter_mut()) {
        figures.add_photos(&phone.sync()?);
    }
    let sync_seconds = sync_started.elapsed().as_secs_f64();
    let urgent_arrived = crate::device::resolve_order(&phones[1].store, &urgent_number).is_ok();
    outcomes.push((
        urgent_number.clone(),
        urgent_id,
        format!(
            "new urgent repair, on {} after sync: {}",
            phones[1].name,
            if urgent_arrived { "yes" } else { "NO" }
        ),
    ));

    // --- What the server holds now, as the back office sees it. ---
    let office = Office::new(
        &server.url(),
        issue_token(storage, DISPATCHER.0, "dispatch-desk", None)?.token,
    )?;
    let conflicts: Vec<ConflictLine> = storage
        .conflicts(&ConflictFilter::default())?
        .into_iter()
        .map(conflict_line)
        .collect();
    let mut story = Vec::new();
    for (_, id, what) in outcomes {
        story.push(outcome(&office.detail(id)?, what));
    }
    let mut reports = Vec::new();
    for ((phone, morning), evening) in phones.iter().zip(morning).zip(evening) {
        let server_orders = storage.list_orders(&OrderFilter {
            crew_id: Some(phone.crew.into()),
            include_archived: Some(false),
            limit: Some(100_000),
            ..Default::default()
        })?;
        let local = phone.store.orders_by_status(&[], 100_000)?;
        let mut agree = 0;
        let (mut photos_on_phone, mut photos_on_server) = (0, 0);
        for summary in &local {
            let order = phone.store.order(summary.id)?;
            if server_orders
                .iter()
                .any(|s| s.id == order.id && s.status == order.status && s.version == order.version)
            {
                agree += 1;
            }
            let photos = phone.store.photos(order.id)?;
            if photos.is_empty() {
                continue;
            }
            photos_on_phone += photos.len() as u64;
            let detail = office.detail(order.id)?;
            photos_on_server += photos
                .iter()
                .filter(|p| {
                    detail
                        .photos
                        .iter()
                        .any(|o| o.photo.id == p.id && o.photo.sha256 == p.sha256 && o.on_server)
                })
                .count() as u64;
        }
        let mut grouped: BTreeMap<String, u64> = BTreeMap::new();
        for r in phone.store.rejected_changes()? {
            *grouped
                .entry(format!("{}: {}", r.entity, r.reason))
                .or_default() += 1;
        }
        let rejected = grouped
            .into_iter()
            .map(|(what, n)| format!("{n} × {what}"))
            .collect();
        reports.push(PhoneReport {
            name: phone.name.into(),
            member: format!("{} ({})", phone.member_name, phone.member),
            crew: phone.crew.into(),
            dir: phone.device.path.clone(),
            morning,
            offline: phone.work.clone(),
            evening,
            rejected,
            orders_in_agreement: agree,
            orders_on_phone: local.len() as u64,
            photos_on_phone,
            photos_on_server,
        });
    }
    let sum = |f: &dyn Fn(&PhoneReport) -> u64| reports.iter().map(f).sum::<u64>();
    let totals = Totals {
        ops_pushed: sum(&|p| p.evening.pushed),
        applied: sum(&|p| p.evening.applied),
        merged: sum(&|p| p.evening.merged),
        conflicts: sum(&|p| p.evening.conflicts),
        rejected: sum(&|p| p.evening.rejected),
        orders_down: sum(&|p| p.morning.orders_received + p.evening.orders_received),
        bytes_up: sum(&|p| p.morning.bytes_up + p.evening.bytes_up),
        bytes_down: sum(&|p| p.morning.bytes_down + p.evening.bytes_down),
        photos_uploaded: sum(&|p| p.morning.photos_uploaded + p.evening.photos_uploaded),
        photo_upload_failures: sum(&|p| {
            p.morning.photo_upload_failures + p.evening.photo_upload_failures
        }),
        photo_bytes_up: sum(&|p| p.morning.photo_bytes_up + p.evening.photo_bytes_up),
        sync_seconds,
        total_seconds: 0.0,
    };
    // Close the stores and stop the server before the directories are handed over.
    drop(phones);
    drop(server);
    let mut report = DemoReport {
        day,
        dir,
        server_dir,
        orders_seeded: seeded + 1,
        orders_by_kind: by_kind,
        crews: CREWS.iter().map(|(id, _)| (*id).to_owned()).collect(),
        capacity_warnings,
        phones: reports,
        dispatch,
        conflicts,
        outcomes: story,
        totals,
    };
    report.totals.total_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

struct Phone {
    name: &'static str,
    member: &'static str,
    member_name: &'static str,
    crew: &'static str,
    device: DeviceDir,
    store: Store,
    client: SyncClient,
    proxy: CountingProxy,
    clock: Arc<ManualClock>,
    work: OfflineWork,
    photo_edge: u32,
    /// The first [`sample_photo`] variant of this phone's photos.
    photo_base: u32,
}

impl Phone {
    fn sync(&self) -> CliResult<SyncFigures> {
        let before = self.proxy.traffic.snapshot();
        let t = Instant::now();
        let report = self.client.sync(&self.store, &mut |_| {})?;
        let data_done = self.proxy.traffic.snapshot();
        // The photos' bytes follow the data on their own queue (the demo's phones are on Wi-Fi).
        let photos = self.client.transfer_photos(
            &self.store,
            fieldcrew_core::sync::NetworkKind::Unmetered,
            &mut |_| {},
        )?;
        let seconds = t.elapsed().as_secs_f64();
        Ok(SyncFigures::of(
            &report,
            data_done - before,
            &photos,
            self.proxy.traffic.snapshot() - data_done,
            seconds,
        ))
    }

    fn wait(&self, minutes: i64) {
        self.clock.advance(Duration::minutes(minutes));
    }

    fn now_hm(&self) -> String {
        (self.store.now() + Duration::hours(8))
            .format("%H:%M")
            .to_string()
    }

    fn report(
        &mut self,
        order: &WorkOrder,
        to: Status,
        reason: Option<SuspendReason>,
    ) -> CliResult<()> {
        let fix = order
            .site
            .location
            .map(|p| Fix::new(p.lat + 0.00012, p.lon - 0.00008, Some(8.0)))
            .transpose()?;
        self.store.report_status(&StatusReport {
            order_id: order.id,
            to,
            reason,
            note: String::new(),
            fix: if to == Status::Arrived || to == Status::Completed {
                fix
            } else {
                None
            },
        })?;
        self.work.status_reports += 1;
        match to {
            Status::Arrived => self.work.arrivals += 1,
            Status::Completed => self.work.completions += 1,
            Status::Suspended => self.work.suspensions += 1,
            _ => {}
        }
        Ok(())
    }

    fn photo(&mut self, order: &WorkOrder, kind: DocumentKind) -> CliResult<()> {
        // A different picture for every photo of the day, across both phones.
        let variant = self.photo_base + u32::try_from(self.work.photos).unwrap_or(0);
        let bytes = sample_photo(self.photo_edge, variant)?;
        let p = self.store.add_photo(order.id, kind, &bytes)?;
        self.work.photos += 1;
        self.work.photo_bytes += p.bytes;
        Ok(())
    }

    /// Records readings; warnings are shown, then confirmed with `reason` (as a member does).
    fn read(
        &mut self,
        order: &WorkOrder,
        purpose: ReadingPurpose,
        raw: &str,
        reason: &str,
        say: &mut dyn FnMut(&str),
    ) -> CliResult<()> {
        let meter = order
            .meters
            .first()
            .ok_or_else(|| CliError::new(format!("order {} has no meter", order.number)))?;
        let mut entry = ReadingEntry {
            order_id: order.id,
            meter_asset: meter.asset_number.clone(),
            purpose,
            values: vec![RegisterValue {
                register: Register::Total,
                raw: raw.into(),
            }],
            photo_id: None,
            supersedes: Vec::new(),
            confirmations: Vec::new(),
        };
        let warnings = self.store.check_readings(&entry)?;
        for w in &warnings {
            say(&format!(
                "{:<11}   ⚠ {} on {}: {} → confirmed: \"{reason}\"",
                "", w.code, w.register, w.message
            ));
            entry.confirmations.push(Confirmation {
                code: w.code,
                register: w.register,
                reason: reason.into(),
            });
            self.work.warnings_confirmed.push(WarningConfirmed {
                order_number: order.number.clone(),
                code: w.code,
                register: w.register,
                value: raw.into(),
                message: w.message.clone(),
                reason: reason.into(),
            });
        }
        let saved = self.store.record_readings(&entry)?;
        self.work.readings += saved.len() as u64;
        Ok(())
    }
}

/// The roles orders play in the story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Install,
    RemovalRollover,
    RemovalHigh,
    Replacement,
    Survey,
    Cancelled,
    Suspend,
    Notes,
    Routine,
}

const PHONE_A_ROLES: &[(Part, WorkKind)] = &[
    (Part::Install, WorkKind::MeterInstall),
    (Part::RemovalRollover, WorkKind::MeterRemoval),
    (Part::Replacement, WorkKind::MeterReplacement),
    (Part::Survey, WorkKind::SiteSurvey),
    (Part::Cancelled, WorkKind::MeterCheck),
    (Part::Suspend, WorkKind::FaultRepair),
    (Part::Notes, WorkKind::CapacityIncrease),
    (Part::Routine, WorkKind::FaultRepair),
    (Part::Routine, WorkKind::MeterCheck),
];

const PHONE_B_ROLES: &[(Part, WorkKind)] = &[
    (Part::RemovalHigh, WorkKind::MeterRemoval),
    (Part::Install, WorkKind::MeterInstall),
    (Part::Routine, WorkKind::FaultRepair),
    (Part::Routine, WorkKind::FaultRepair),
    (Part::Routine, WorkKind::MeterCheck),
];

/// The orders a phone works on, picked from the crew's day and shaped for their role.
struct Plan {
    picks: Vec<(Part, WorkOrder)>,
}

impl Plan {
    fn pick(
        orders: &mut [WorkOrder],
        crew: &str,
        roles: &[(Part, WorkKind)],
        day_start: DateTime<Utc>,
    ) -> CliResult<Plan> {
        let today = |o: &WorkOrder| {
            let at = o.appointment.agenda_at(o.accepted_at);
            at >= day_start && at < day_start + Duration::days(1)
        };
        let mut taken: Vec<usize> = Vec::new();
        let mut picks = Vec::new();
        for (n, (role, kind)) in roles.iter().enumerate() {
            let candidates = |want: Option<WorkKind>, on_the_day: bool| {
                orders
                    .iter()
                    .enumerate()
                    .filter(|(i, o)| {
                        o.crew_id == crew
                            && (!on_the_day || today(o))
                            && !taken.contains(i)
                            && want.is_none_or(|k| o.kind == k)
                    })
                    .map(|(i, _)| i)
                    .collect::<Vec<_>>()
            };
            // The right kind if the day has one, else any order of the crew's day recast, else
            // one of another day brought forward.
            let ix = candidates(Some(*kind), true)
                .first()
                .or(candidates(None, true).first())
                .or(candidates(None, false).first())
                .copied()
                .ok_or_else(|| {
                    CliError::new(format!(
                        "the seeded day has too few orders for {crew}; seed more orders"
                    ))
                })?;
            taken.push(ix);
            let o = &mut orders[ix];
            if !today(o) {
                let start = day_start + Duration::hours(9) + Duration::minutes(30 * n as i64);
                o.appointment = Appointment::Slot {
                    start,
                    end: start + Duration::hours(2),
                };
                o.accepted_at = day_start - Duration::hours(20);
            }
            o.kind = *kind;
            o.required_documents = kind.default_documents().to_vec();
            o.status = Status::Dispatched;
            shape(o, *role, n, day_start);
            picks.push((*role, o.clone()));
        }
        // Visit them in appointment order, as the agenda would.
        picks.sort_by_key(|(_, o)| o.appointment.agenda_at(o.accepted_at));
        Ok(Plan { picks })
    }

    fn order(&self, role: Part) -> &WorkOrder {
        // Every plan is built from a fixed role list that contains the roles asked for here.
        match self.picks.iter().find(|(r, _)| *r == role) {
            Some((_, o)) => o,
            None => &self.picks[0].1,
        }
    }
}

fn total_register(digits: u8, last: Decimal, at: DateTime<Utc>) -> MeterRegister {
    MeterRegister {
        spec: RegisterSpec {
            register: Register::Total,
            int_digits: digits,
            decimals: 2,
        },
        last: Some(HistoryPoint { value: last, at }),
    }
}

fn demo_meter(
    asset: String,
    digits: u8,
    last: Decimal,
    at: DateTime<Utc>,
    daily: i64,
    prepaid: bool,
) -> Meter {
    Meter {
        asset_number: asset,
        phases: 1,
        registers: vec![total_register(digits, last, at)],
        multiplier: Decimal::ONE,
        prepaid,
        expected_daily_kwh: Some(Decimal::from(daily)),
    }
}

/// Sets the meters the story's readings are checked against.
fn shape(o: &mut WorkOrder, role: Part, n: usize, day_start: DateTime<Utc>) {
    let asset = |tag: u64| format!("3310150{:09}", tag * 1000 + n as u64);
    let month_ago = day_start - Duration::days(31);
    match role {
        // An old mechanical meter with four digits, about to roll over.
        Part::RemovalRollover => {
            o.meters = vec![demo_meter(
                asset(1),
                4,
                Decimal::new(987_140, 2),
                month_ago,
                7,
                false,
            )]
        }
        Part::RemovalHigh => {
            o.meters = vec![demo_meter(
                asset(2),
                6,
                Decimal::new(2_345_670, 2),
                month_ago,
                12,
                false,
            )]
        }
        Part::Replacement => {
            o.meters = vec![demo_meter(
                asset(3),
                6,
                Decimal::new(563_025, 2),
                month_ago,
                9,
                true,
            )]
        }
        Part::Install => {
            o.meters = vec![demo_meter(asset(4), 6, Decimal::ZERO, month_ago, 5, false)]
        }
        Part::Cancelled | Part::Routine if o.kind == WorkKind::MeterCheck => {
            o.meters = vec![demo_meter(
                asset(5),
                6,
                Decimal::new(800_000, 2),
                month_ago,
                10,
                false,
            )]
        }
        Part::Survey | Part::Notes => o.meters.clear(),
        _ => {}
    }
}

fn to_new_order(o: &WorkOrder) -> NewOrder {
    NewOrder {
        id: Some(o.id),
        number: o.number.clone(),
        kind: o.kind,
        priority: o.priority,
        customer: o.customer.clone(),
        site: o.site.clone(),
        meters: o.meters.clone(),
        required_documents: Some(o.required_documents.clone()),
        appointment: o.appointment,
        accepted_at: o.accepted_at,
        dispatch_notes: o.dispatch_notes.clone(),
        crew_id: o.crew_id.clone(),
        member_id: None,
        fees: Vec::new(),
    }
}

fn urgent_repair(plan: &Plan, day_start: DateTime<Utc>, phone: &Phone) -> NewOrder {
    let mut o = to_new_order(&plan.picks[0].1);
    o.id = None;
    o.number = format!(
        "GD{}U00001",
        (day_start + Duration::hours(8)).format("%Y%m%d")
    );
    o.kind = WorkKind::FaultRepair;
    o.priority = Priority::Urgent;
    o.required_documents = None;
    o.meters.clear();
    o.customer.name = "滨江区康宁药房".into();
    o.dispatch_notes = "95598 报修：店内全部停电，冷藏药品需尽快恢复供电".into();
    o.appointment = Appointment::Within { hours: 4 };
    o.accepted_at = phone.store.now();
    o
}

fn play_phone_a(
    p: &mut Phone,
    plan: &Plan,
    say: &mut dyn FnMut(&str),
    outcomes: &mut Vec<(String, Uuid, String)>,
) -> CliResult<()> {
    for (role, o) in &plan.picks {
        p.wait(25);
        p.report(o, Status::Arrived, None)?;
        let line = format!(
            "{:<11} {} {} {} {}",
            p.name,
            p.now_hm(),
            o.number,
            o.kind,
            o.customer.name
        );
        say(&line);
        match role {
            Part::Install => {
                p.read(o, ReadingPurpose::NewMeterStart, "0.52", "", say)?;
                p.photo(o, DocumentKind::MeterAfter)?;
                p.photo(o, DocumentKind::Seal)?;
                say(&format!(
                    "{:<11}   new meter {} start reading 0.52 kWh, sealed",
                    "", o.meters[0].asset_number
                ));
                outcomes.push((
                    o.number.clone(),
                    o.id,
                    "new meter installed, start reading 0.52".into(),
                ));
            }
            Part::RemovalRollover => {
                p.photo(o, DocumentKind::IdCard)?;
                p.photo(o, DocumentKind::PropertyCertificate)?;
                p.read(
                    o,
                    ReadingPurpose::RemovedMeterFinal,
                    "68.20",
                    "旧式机械表，四位计度器已走满翻转",
                    say,
                )?;
                say(&format!(
                    "{:<11}   account closure: removed meter final reading 0068.20 (last billed 9871.40)",
                    ""
                ));
                outcomes.push((
                    o.number.clone(),
                    o.id,
                    "meter removed, rollover confirmed".into(),
                ));
            }
            Part::Replacement => {
                let old = &o.meters[0];
                let (_, readings) = p.store.record_replacement(&ReplacementEntry {
                    order_id: o.id,
                    old_meter: old.asset_number.clone(),
                    old_final: vec![RegisterValue {
                        register: Register::Total,
                        raw: "5881.60".into(),
                    }],
                    old_balance: Some("35.20".into()),
                    // A new meter: no reading history yet.
                    new_meter: Meter {
                        registers: vec![MeterRegister {
                            last: None,
                            ..total_register(6, Decimal::ZERO, p.store.now())
                        }],
                        ..demo_meter(
                            "3310150888000001".into(),
                            6,
                            Decimal::ZERO,
                            p.store.now(),
                            9,
                            true,
                        )
                    },
                    new_start: vec![RegisterValue {
                        register: Register::Total,
                        raw: "0.00".into(),
                    }],
                    new_card: Some("6217001234567890".into()),
                    photo_id: None,
                    confirmations: Vec::new(),
                })?;
                p.work.readings += readings.len() as u64;
                p.work.replacements += 1;
                p.photo(o, DocumentKind::MeterBefore)?;
                p.photo(o, DocumentKind::MeterAfter)?;
                say(&format!(
                    "{:<11}   prepaid meter replaced: old final 5881.60, balance ¥35.20 carried over, new card 6217001234567890",
                    ""
                ));
                outcomes.push((
                    o.number.clone(),
                    o.id,
                    "prepaid meter replaced, balance ¥35.20".into(),
                ));
            }
            Part::Survey => {
                p.store.save_survey(
                    o.id,
                    &SiteSurvey {
                        capacity_kva: Decimal::from(80),
                        voltage: Voltage::V380,
                        phases: 3,
                        connection: ConnectionPoint {
                            station: "110kV文三变".into(),
                            line: "10kV文三线".into(),
                            transformer: "文三3号公变".into(),
                            pole_or_box: "12号杆".into(),
                        },
                        load_notes: "餐饮店，厨房设备为主，需三相供电".into(),
                    },
                )?;
                p.work.surveys += 1;
                p.photo(o, DocumentKind::Site)?;
                say(&format!(
                    "{:<11}   survey: 80 kVA, 380 V three-phase, 110kV文三变—10kV文三线—文三3号公变—12号杆",
                    ""
                ));
                outcomes.push((o.number.clone(), o.id, "site surveyed".into()));
            }
            Part::Cancelled => {
                p.read(o, ReadingPurpose::Check, "8301.50", "", say)?;
                say(&format!(
                    "{:<11}   accuracy check reading 8301.50, meter within class",
                    ""
                ));
                outcomes.push((
                    o.number.clone(),
                    o.id,
                    "checked and completed; dispatch cancelled it meanwhile".into(),
                ));
            }
            Part::Suspend => {
                p.wait(10);
                p.report(o, Status::Suspended, Some(SuspendReason::CustomerAbsent))?;
                say(&format!("{:<11}   customer absent: visit suspended", ""));
                outcomes.push((
                    o.number.clone(),
                    o.id,
                    "suspended (customer absent); dispatch rescheduled it".into(),
                ));
                continue;
            }
            Part::Notes => {
                p.store
                    .set_crew_notes(o.id, "表箱在地下室，钥匙在物业值班室")?;
                p.work.notes += 1;
                p.photo(o, DocumentKind::BusinessLicence)?;
                say(&format!(
                    "{:<11}   crew notes: \"表箱在地下室，钥匙在物业值班室\"",
                    ""
                ));
                outcomes.push((
                    o.number.clone(),
                    o.id,
                    "crew notes written; dispatch edited them too".into(),
                ));
            }
            Part::RemovalHigh | Part::Routine => {
                if o.kind == WorkKind::MeterCheck {
                    p.read(o, ReadingPurpose::Check, "8296.10", "", say)?;
                }
            }
        }
        p.wait(30);
        p.report(o, Status::Completed, None)?;
        if matches!(role, Part::Install | Part::Routine) {
            p.store.add_evaluation(o.id, 5, "师傅准时上门，服务很好")?;
            p.work.evaluations += 1;
        }
    }
    Ok(())
}

fn play_phone_b(
    p: &mut Phone,
    plan: &Plan,
    say: &mut dyn FnMut(&str),
    outcomes: &mut Vec<(String, Uuid, String)>,
) -> CliResult<()> {
    for (role, o) in &plan.picks {
        p.wait(35);
        p.report(o, Status::Arrived, None)?;
        say(&format!(
            "{:<11} {} {} {} {}",
            p.name,
            p.now_hm(),
            o.number,
            o.kind,
            o.customer.name
        ));
        match role {
            Part::RemovalHigh => {
                p.photo(o, DocumentKind::IdCard)?;
                p.photo(o, DocumentKind::PropertyCertificate)?;
                p.read(
                    o,
                    ReadingPurpose::RemovedMeterFinal,
                    "24980.00",
                    "客户经营餐馆，近月新增空调及冷柜，已与客户核实",
                    say,
                )?;
                say(&format!(
                    "{:<11}   account closure: removed meter final reading 24980.00 (last billed 23456.70)",
                    ""
                ));
                outcomes.push((
                    o.number.clone(),
                    o.id,
                    "meter removed, high consumption confirmed".into(),
                ));
            }
            Part::Install => {
                p.read(o, ReadingPurpose::NewMeterStart, "1.05", "", say)?;
                p.photo(o, DocumentKind::MeterAfter)?;
                say(&format!(
                    "{:<11}   new meter {} start reading 1.05 kWh",
                    "", o.meters[0].asset_number
                ));
                outcomes.push((
                    o.number.clone(),
                    o.id,
                    "new meter installed, start reading 1.05".into(),
                ));
            }
            _ => {
                if o.kind == WorkKind::MeterCheck {
                    p.read(o, ReadingPurpose::Check, "8310.00", "", say)?;
                }
            }
        }
        p.wait(40);
        p.report(o, Status::Completed, None)?;
        if *role != Part::RemovalHigh {
            p.store
                .add_evaluation(o.id, 4, "处理及时，希望以后提前电话联系")?;
            p.work.evaluations += 1;
        }
    }
    Ok(())
}

/// The back-office API, asked as a dispatcher's desk would (`GET /v1/office/orders/{id}`):
/// a photo shows `on_server` only once its verified bytes are in place.
struct Office {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Office {
    fn new(url: &str, token: String) -> CliResult<Office> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .map_err(|e| CliError::new(format!("http client: {e}")))?;
        Ok(Office {
            runtime,
            http,
            url: url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    fn detail(&self, id: Uuid) -> CliResult<OfficeDetail> {
        self.runtime.block_on(async {
            let failed = |e: reqwest::Error| CliError::new(format!("back office, order {id}: {e}"));
            let response = self
                .http
                .get(format!("{}/v1/office/orders/{id}", self.url))
                .bearer_auth(&self.token)
                .send()
                .await
                .map_err(failed)?;
            let status = response.status();
            if !status.is_success() {
                return Err(CliError::new(format!(
                    "back office, order {id}: HTTP {status}"
                )));
            }
            response.json::<OfficeDetail>().await.map_err(failed)
        })
    }
}

fn outcome(d: &OfficeDetail, what: String) -> Outcome {
    let o = &d.order;
    Outcome {
        order_number: o.number.clone(),
        kind: o.kind,
        what,
        status: o.status,
        appointment: o.appointment,
        crew_notes: o.crew_notes.clone(),
        readings: d
            .readings
            .iter()
            .map(|r| OutcomeReading {
                meter: r.meter_asset.clone(),
                purpose: r.purpose,
                register: r.register,
                value: r.value,
                confirmed: r.warnings.clone(),
            })
            .collect(),
        replacement: d.replacements.first().map(|r| OutcomeReplacement {
            old_meter: r.old_meter.clone(),
            old_balance: r.old_balance,
            new_meter: r.new_meter.clone(),
            new_card: r.new_card.clone(),
        }),
        survey: o.survey.clone(),
        photos: d
            .photos
            .iter()
            .map(|p| OutcomePhoto {
                kind: p.photo.kind,
                bytes: p.photo.bytes,
                on_server: p.on_server,
            })
            .collect(),
        documents_missing: d
            .documents
            .iter()
            .filter(|doc| !doc.received)
            .map(|doc| doc.kind)
            .collect(),
    }
}

fn conflict_line(c: Conflict) -> ConflictLine {
    let explanation = match c.rule {
        ConflictRule::DispatchOwnsField => "both changed a field dispatch owns: dispatch's value stands",
        ConflictRule::CrewOwnsField => {
            "both changed a field the crew owns: the crew's value stands, the office's is kept in the record"
        }
        ConflictRule::LatestHlcWins => "two devices of the crew changed the same field: the later stamp stands",
        ConflictRule::CancelledButCompleted => {
            "dispatch cancelled while the crew completed the work offline: the work is a fact, the order ends completed, dispatch follows up (refund, callback)"
        }
        ConflictRule::CancelledDuringVisit => {
            "dispatch cancelled while the crew was on site: the crew's records stand, the order stays cancelled"
        }
        ConflictRule::ReassignedWhileOffline => {
            "dispatch moved the order while the crew worked offline: the records stand, the order stays where dispatch put it"
        }
    }
    .to_owned();
    ConflictLine {
        order_number: c.order_number,
        field: c.field,
        rule: c.rule,
        kept_value: c.kept_value,
        kept_by: c.kept_by,
        lost_value: c.lost_value,
        lost_by: c.lost_by,
        explanation,
    }
}

/// A document photo as a phone camera would deliver it: a JPEG of a pale page with lines of
/// print and a red seal, `edge` pixels on its long side.
/// `variant` moves the seal and is printed in the top margin as a row of 16 marks (its bits),
/// so photos of different variants are different pictures (and different content addresses).
pub fn sample_photo(edge: u32, variant: u32) -> CliResult<Vec<u8>> {
    let w = edge.clamp(64, 4000);
    let h = w * 3 / 4;
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    let shift = f64::from(variant % 17) / 17.0;
    let (cx, cy, r) = (
        w as f64 * (0.55 + 0.3 * shift),
        h as f64 * (0.6 + 0.2 * shift),
        h as f64 * 0.13,
    );
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f64, y as f64);
            let d = ((xf - cx).powi(2) + (yf - cy).powi(2)).sqrt();
            let line =
                (y * 24 / h) % 2 == 1 && x > w / 10 && x < w * 9 / 10 && (x / 7 + y) % 11 != 0;
            // The variant's bits, one mark each, in the top margin.
            let bit = (x * 20 / w).checked_sub(2).filter(|b| *b < 16);
            let mark = y > h / 40
                && y < h / 12
                && bit.is_some_and(|b| (variant >> b) & 1 == 1 && (x * 40 / w).is_multiple_of(2));
            let (rr, gg, bb) = if mark {
                (20, 20, 30)
            } else if (d - r).abs() < r * 0.08 || (d < r * 0.3) {
                (200, 30, 40)
            } else if line && y > h / 8 && y < h * 7 / 8 {
                (40, 40, 50)
            } else {
                let shade = 235 - (x * 20 / w) as u8;
                (shade, shade - 3, shade - 12)
            };
            pixels.extend_from_slice(&[rr, gg, bb]);
        }
    }
    let mut out = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut out, 85);
    let (w16, h16) = (
        u16::try_from(w).map_err(|_| CliError::new("photo too large"))?,
        u16::try_from(h).map_err(|_| CliError::new("photo too large"))?,
    );
    encoder
        .encode(&pixels, w16, h16, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| CliError::new(format!("sample photo: {e}")))?;
    Ok(out)
}

pub fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MB", n as f64 / (1 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

fn show_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

/// The narrated report, for people.
pub fn render(report: &DemoReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "══ fieldcrew demo: {} in 杭州, two crews offline, then sync ══",
        report.day
    );
    let _ = writeln!(
        s,
        "Seeded {} orders ({}) for {} crews; dispatch got {} capacity warnings while booking.",
        report.orders_seeded,
        report
            .orders_by_kind
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", "),
        report.crews.len(),
        report.capacity_warnings
    );
    for p in &report.phones {
        let _ = writeln!(s);
        let _ = writeln!(s, "── {} · {} · {} ──", p.name, p.member, p.crew);
        let _ = writeln!(
            s,
            "Morning, down: {} orders ({}, {:.2} s).",
            p.morning.orders_received,
            human_bytes(p.morning.bytes_down),
            p.morning.seconds
        );
        let w = &p.offline;
        let _ = writeln!(
            s,
            "Offline: {} arrivals, {} completions, {} suspension(s); {} readings; {} replacement(s); {} photos ({} stored); {} survey(s); {} evaluation(s); {} note edit(s).",
            w.arrivals,
            w.completions,
            w.suspensions,
            w.readings,
            w.replacements,
            w.photos,
            human_bytes(w.photo_bytes),
            w.surveys,
            w.evaluations,
            w.notes
        );
        for c in &w.warnings_confirmed {
            let _ = writeln!(
                s,
                "  warning confirmed: {} {} on {} ({}): \"{}\"",
                c.order_number, c.code, c.register, c.value, c.reason
            );
        }
        let _ = writeln!(
            s,
            "Evening, up: {} changes ({}) in {}; {} applied, {} merged, {} met a conflict, {} rejected.",
            p.evening.pushed,
            w.outbox
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", "),
            human_bytes(p.evening.bytes_up),
            p.evening.applied,
            p.evening.merged,
            p.evening.conflicts,
            p.evening.rejected
        );
        let _ = writeln!(
            s,
            "Evening, down: {} orders changed on the server, {} conflict record(s) ({}).",
            p.evening.orders_received,
            p.evening.conflicts_received,
            human_bytes(p.evening.bytes_down)
        );
        let _ = writeln!(
            s,
            "Evening, photos up: {} uploaded ({} in {} requests), {} failed; {} of the phone's {} photos are on the server, verified.",
            p.evening.photos_uploaded,
            human_bytes(p.evening.photo_bytes_up),
            p.evening.photo_requests,
            p.evening.photo_upload_failures,
            p.photos_on_server,
            p.photos_on_phone
        );
        for r in &p.rejected {
            let _ = writeln!(s, "  rejected (kept on the phone, never retried): {r}");
        }
        let _ = writeln!(
            s,
            "After sync: {} of {} orders on the phone match the server (status and version).",
            p.orders_in_agreement, p.orders_on_phone
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "── Dispatch, while the phones were offline ──");
    for d in &report.dispatch {
        let _ = writeln!(s, "  {d}");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "── What merged and what conflicted ──");
    for o in &report.outcomes {
        let photos = if o.photos.is_empty() {
            String::new()
        } else {
            format!(
                ", {} of {} photo(s) on the server",
                o.photos.iter().filter(|p| p.on_server).count(),
                o.photos.len()
            )
        };
        let _ = writeln!(
            s,
            "  {}  {} → server: {}{photos}",
            o.order_number, o.what, o.status
        );
    }
    if report.conflicts.is_empty() {
        let _ = writeln!(s, "  no conflicts");
    }
    for c in &report.conflicts {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "  Conflict on {} ({}), rule {}:",
            c.order_number, c.field, c.rule
        );
        let _ = writeln!(s, "    kept {} by {}", show_value(&c.kept_value), c.kept_by);
        let _ = writeln!(
            s,
            "    lost {} by {} (kept in the record, nothing dropped)",
            show_value(&c.lost_value),
            c.lost_by
        );
        let _ = writeln!(s, "    why: {}", c.explanation);
    }
    let t = &report.totals;
    let _ = writeln!(s);
    let _ = writeln!(s, "── Figures ──");
    let mut table = crate::output::table(&["", "value"]);
    for (k, v) in [
        ("changes pushed", t.ops_pushed.to_string()),
        (
            "  applied / merged",
            format!("{} / {}", t.applied, t.merged),
        ),
        (
            "  conflicts / rejected",
            format!("{} / {}", t.conflicts, t.rejected),
        ),
        (
            "orders pulled (morning + evening)",
            t.orders_down.to_string(),
        ),
        (
            "order data up (request bodies, compressed as sent)",
            human_bytes(t.bytes_up),
        ),
        (
            "order data down (reply bodies, compressed as sent)",
            human_bytes(t.bytes_down),
        ),
        (
            "photos uploaded / failed",
            format!("{} / {}", t.photos_uploaded, t.photo_upload_failures),
        ),
        (
            "photo bytes up (photos and thumbnails)",
            human_bytes(t.photo_bytes_up),
        ),
        (
            "evening sync, both phones",
            format!("{:.2} s", t.sync_seconds),
        ),
        ("whole demo", format!("{:.2} s", t.total_seconds)),
    ] {
        table.add_row(vec![k.to_owned(), v]);
    }
    let _ = writeln!(s, "{table}");
    let _ = writeln!(s);
    let _ = writeln!(s, "Data left for inspection in {}:", report.dir.display());
    let _ = writeln!(s, "  server   {}", report.server_dir.display());
    for p in &report.phones {
        let _ = writeln!(s, "  {:<8} {}", p.name, p.dir.display());
    }
    if let Some(p) = report.phones.first() {
        let _ = writeln!(
            s,
            "Try: fieldcrew --data {} agenda --day {}    (or: conflicts, pending, show ORDER)",
            p.dir.display(),
            report.day
        );
    }
    s
}

/// For callers that want the path where a phone's data ended up.
pub fn phone_dir(report: &DemoReport, name: &str) -> Option<PathBuf> {
    report
        .phones
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.dir.clone())
}
