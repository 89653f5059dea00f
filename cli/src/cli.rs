//! The `fieldcrew` command line: a desktop shell over the core, doing what the phone app does.

use std::path::PathBuf;
use std::str::FromStr;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use fieldcrew_core::geo::{Fix, GeoPoint};
use fieldcrew_core::reading::{Confirmation, ReadingPurpose, Register, RegisterSpec, WarningCode};
use fieldcrew_core::store::{
    AgendaQuery, ReadingEntry, RegisterValue, ReplacementEntry, StatusReport, Store,
};
use fieldcrew_core::survey::{ConnectionPoint, SiteSurvey, Voltage};
use fieldcrew_core::sync::wire::ResolveChoice;
use fieldcrew_core::sync::{SyncClient, SyncPhase};
use fieldcrew_core::work_order::{DocumentKind, Meter, MeterRegister, Status, SuspendReason};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use crate::demo::{self, DemoOptions};
use crate::device::{self, DeviceConfig, DeviceDir, resolve_order};
use crate::error::{CliError, CliResult};
use crate::output::{self, table};

#[derive(Debug, Parser)]
#[command(
    name = "fieldcrew",
    version,
    about = "fieldcrew on the desktop: drive a crew device from a terminal, or run the demo",
    long_about = "fieldcrew on the desktop: drive a crew device from a terminal, or run the demo.\n\n\
        A device is a data directory (--data) holding the encrypted store, its key file \
        (store.key, the desktop stand-in for the phone's keystore) and the server settings \
        written by `login`. Orders are named by number (GD...) or id."
)]
pub struct Cli {
    /// The device data directory.
    #[arg(
        long,
        global = true,
        default_value = "./fieldcrew-device",
        env = "FIELDCREW_DATA"
    )]
    pub data: PathBuf,
    /// Print JSON on stdout instead of tables (errors stay one line on stderr).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign this device in to a server with a token (creates the store and its key).
    Login {
        #[arg(long)]
        server: String,
        #[arg(long)]
        token: String,
        /// A PEM file of root certificates to trust besides the built-in ones (a utility's
        /// own CA); kept with the device's server settings for later syncs.
        #[arg(long, value_name = "FILE")]
        ca_cert: Option<PathBuf>,
    },
    /// The day's orders by area, open ones first; nearest-next with --near.
    Agenda {
        /// The day (YYYY-MM-DD, Beijing time); today by default.
        #[arg(long)]
        day: Option<NaiveDate>,
        /// The phone's position, LAT,LON.
        #[arg(long, value_parser = parse_point)]
        near: Option<GeoPoint>,
    },
    /// Orders whose number, account, name, address or meter contains the text.
    Search {
        query: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One order in full: customer, site, meters, timeline, readings, photos, documents.
    Show { order: String },
    /// Report arrival on site (到达现场).
    Arrive(StatusArgs),
    /// Report that work has started.
    Start(StatusArgs),
    /// Suspend the visit with a reason.
    Suspend {
        #[command(flatten)]
        status: StatusArgs,
        /// customer_absent, documents_missing, site_not_ready, unsafe or other.
        #[arg(long)]
        reason: SuspendReason,
        /// A note (required with `other`).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Report the end of the work (工作结束).
    Complete(StatusArgs),
    /// Record a meter's register readings; warnings must be confirmed with a reason.
    Read {
        order: String,
        /// The meter's asset number; may be left out when the order has one meter.
        #[arg(long)]
        meter: Option<String>,
        /// new_meter_start, removed_meter_final, replacement_old_final, replacement_new_start or check.
        #[arg(long)]
        purpose: ReadingPurpose,
        /// REGISTER=VALUE, e.g. total=1234.5 (repeat for peak, flat, valley, sharp).
        #[arg(long = "value", required = true, value_parser = parse_value)]
        values: Vec<RegisterValue>,
        /// CODE:REGISTER:REASON confirming a warning, e.g. rollover:total:"old meter wrapped".
        #[arg(long = "confirm", value_parser = parse_confirmation)]
        confirmations: Vec<Confirmation>,
        /// The id of a reading this set corrects.
        #[arg(long)]
        supersedes: Vec<Uuid>,
    },
    /// Record a meter replacement (换表): old final readings and balance, new meter and card.
    Replace(ReplaceArgs),
    /// Add a photo (document, meter, seal, site...) to an order from an image file.
    Photo {
        order: String,
        /// business_licence, property_certificate, id_card, meter_before, meter_after, seal, site, signature, other.
        #[arg(long)]
        kind: DocumentKind,
        file: PathBuf,
    },
    /// Save the site survey (现场勘查) for the supply plan.
    Survey(SurveyArgs),
    /// Replace the crew's notes on an order.
    Notes { order: String, text: String },
    /// Record the customer's evaluation (服务评价), 1 to 5.
    Evaluate {
        order: String,
        score: u8,
        comment: String,
    },
    /// Push pending changes and pull the crew's orders.
    Sync,
    /// Changes waiting for the server.
    Pending {
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Conflicts on the crew's orders; acknowledge or resolve one.
    Conflicts(ConflictArgs),
    /// The whole story in one command: a server, a city's day, two phones offline, then sync.
    Demo {
        /// Orders to seed across the city's crews.
        #[arg(long, default_value_t = 360)]
        orders: usize,
        /// Where to leave the data (an empty or new directory); a temporary one by default.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Long edge of the generated document photos, in pixels.
        #[arg(long, default_value_t = 1600)]
        photo_edge: u32,
    },
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    pub order: String,
    /// Where the phone is: LAT,LON[,ACCURACY_M].
    #[arg(long, value_parser = parse_fix)]
    pub gps: Option<Fix>,
}

#[derive(Debug, Args)]
pub struct ReplaceArgs {
    pub order: String,
    /// The old meter's asset number; may be left out when the order has one meter.
    #[arg(long)]
    pub old_meter: Option<String>,
    /// The old meter's final reading, REGISTER=VALUE (repeatable).
    #[arg(long = "old", required = true, value_parser = parse_value)]
    pub old_final: Vec<RegisterValue>,
    /// The prepaid balance left on the old meter, in yuan (prepaid meters).
    #[arg(long)]
    pub old_balance: Option<String>,
    /// The new meter's asset number.
    #[arg(long)]
    pub new_meter: String,
    /// The new meter's start reading, REGISTER=VALUE (repeatable).
    #[arg(long = "new", required = true, value_parser = parse_value)]
    pub new_start: Vec<RegisterValue>,
    /// The new meter is prepaid (then --new-card is required).
    #[arg(long)]
    pub new_prepaid: bool,
    /// The new prepaid card's number (换发电卡).
    #[arg(long)]
    pub new_card: Option<String>,
    /// 1 or 3.
    #[arg(long, default_value_t = 1)]
    pub new_phases: u8,
    /// Integer digits of the new meter's registers.
    #[arg(long, default_value_t = 6)]
    pub new_digits: u8,
    #[arg(long = "confirm", value_parser = parse_confirmation)]
    pub confirmations: Vec<Confirmation>,
}

#[derive(Debug, Args)]
pub struct SurveyArgs {
    pub order: String,
    #[arg(long)]
    pub capacity_kva: Decimal,
    /// v220, v380 or kv10.
    #[arg(long)]
    pub voltage: Voltage,
    /// 1 or 3; follows the voltage when left out.
    #[arg(long)]
    pub phases: Option<u8>,
    /// Substation (站).
    #[arg(long, default_value = "")]
    pub station: String,
    /// Line (线).
    #[arg(long, default_value = "")]
    pub line: String,
    /// Transformer (变).
    #[arg(long, default_value = "")]
    pub transformer: String,
    /// Pole or distribution box the service drop leaves from.
    #[arg(long, default_value = "")]
    pub pole: String,
    #[arg(long, default_value = "")]
    pub notes: String,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("action").args(["ack", "resolve"])))]
pub struct ConflictArgs {
    /// Include acknowledged and resolved conflicts.
    #[arg(long)]
    pub all: bool,
    /// Acknowledge conflict ID (seen, nothing to change).
    #[arg(long, value_name = "ID")]
    pub ack: Option<Uuid>,
    /// Resolve conflict ID with --keep or --lose.
    #[arg(long, value_name = "ID")]
    pub resolve: Option<Uuid>,
    /// Keep the value that stands.
    #[arg(long, requires = "resolve", conflicts_with = "lose")]
    pub keep: bool,
    /// Put the losing value back (crew-owned fields only).
    #[arg(long, requires = "resolve")]
    pub lose: bool,
    #[arg(long, default_value = "", requires = "resolve")]
    pub note: String,
}

fn parse_point(s: &str) -> Result<GeoPoint, String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let [lat, lon] = parts[..] else {
        return Err("expected LAT,LON".into());
    };
    let lat: f64 = lat
        .parse()
        .map_err(|_| format!("latitude {lat:?} is not a number"))?;
    let lon: f64 = lon
        .parse()
        .map_err(|_| format!("longitude {lon:?} is not a number"))?;
    GeoPoint::new(lat, lon).map_err(|e| e.to_string())
}

fn parse_fix(s: &str) -> Result<Fix, String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let num = |x: &str, what: &str| {
        x.parse::<f64>()
            .map_err(|_| format!("{what} {x:?} is not a number"))
    };
    let (lat, lon, acc) = match parts[..] {
        [lat, lon] => (num(lat, "latitude")?, num(lon, "longitude")?, None),
        [lat, lon, acc] => (
            num(lat, "latitude")?,
            num(lon, "longitude")?,
            Some(num(acc, "accuracy")?),
        ),
        _ => return Err("expected LAT,LON or LAT,LON,ACCURACY_M".into()),
    };
    Fix::new(lat, lon, acc).map_err(|e| e.to_string())
}

fn parse_value(s: &str) -> Result<RegisterValue, String> {
    let (register, raw) = s
        .split_once('=')
        .ok_or("expected REGISTER=VALUE, e.g. total=1234.5")?;
    let register = Register::from_str(register.trim())
        .map_err(|_| format!("unknown register {register:?} (total, sharp, peak, flat, valley)"))?;
    Ok(RegisterValue {
        register,
        raw: raw.trim().to_owned(),
    })
}

fn parse_confirmation(s: &str) -> Result<Confirmation, String> {
    let mut parts = s.splitn(3, ':');
    let (Some(code), Some(register), Some(reason)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("expected CODE:REGISTER:REASON, e.g. rollover:total:old meter wrapped".into());
    };
    let code = WarningCode::from_str(code.trim()).map_err(|_| {
        format!(
            "unknown warning code {code:?} ({})",
            WarningCode::ALL
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let register = Register::from_str(register.trim())
        .map_err(|_| format!("unknown register {register:?}"))?;
    if reason.trim().is_empty() {
        return Err("a confirmation needs a reason".into());
    }
    Ok(Confirmation {
        code,
        register,
        reason: reason.trim().to_owned(),
    })
}

/// Runs one command; what it prints goes to stdout, progress to stderr.
pub fn run(cli: Cli) -> CliResult<()> {
    let dir = DeviceDir::new(&cli.data);
    let json = cli.json;
    match cli.command {
        Command::Login {
            server,
            token,
            ca_cert,
        } => login(&dir, &server, &token, ca_cert.as_deref(), json),
        Command::Agenda { day, near } => agenda(&dir.open_store()?, day, near, json),
        Command::Search { query, limit } => {
            let store = dir.open_store()?;
            let hits = store.search(&query, limit)?;
            if json {
                return print_json(&hits);
            }
            let mut t = table(&["number", "kind", "status", "customer", "address", "due"]);
            for o in &hits {
                t.add_row(vec![
                    o.number.clone(),
                    o.kind.to_string(),
                    o.status.to_string(),
                    o.customer_name.clone(),
                    o.address.clone(),
                    output::local(o.due_at),
                ]);
            }
            println!("{t}");
            println!("{} order(s)", hits.len());
            Ok(())
        }
        Command::Show { order } => show(&dir.open_store()?, &order, json),
        Command::Arrive(a) => status(&dir, a, Status::Arrived, None, "", json),
        Command::Start(a) => status(&dir, a, Status::InProgress, None, "", json),
        Command::Suspend {
            status: a,
            reason,
            note,
        } => status(&dir, a, Status::Suspended, Some(reason), &note, json),
        Command::Complete(a) => status(&dir, a, Status::Completed, None, "", json),
        Command::Read {
            order,
            meter,
            purpose,
            values,
            confirmations,
            supersedes,
        } => {
            let store = dir.open_store()?;
            let order_id = resolve_order(&store, &order)?;
            let meter = pick_meter(&store, order_id, meter)?;
            let entry = ReadingEntry {
                order_id,
                meter_asset: meter,
                purpose,
                values,
                photo_id: None,
                supersedes,
                confirmations,
            };
            let saved = store.record_readings(&entry).map_err(CliError::from)?;
            if json {
                return print_json(&saved);
            }
            let mut t = table(&[
                "reading",
                "meter",
                "register",
                "value",
                "confirmed warnings",
            ]);
            for r in &saved {
                t.add_row(vec![
                    r.id.to_string(),
                    r.meter_asset.clone(),
                    r.register.to_string(),
                    r.value.to_string(),
                    r.warnings
                        .iter()
                        .map(|w| format!("{}: {}", w.code, w.reason))
                        .collect::<Vec<_>>()
                        .join("; "),
                ]);
            }
            println!("{t}");
            println!(
                "{} reading(s) saved; they sync with the next `fieldcrew sync`",
                saved.len()
            );
            Ok(())
        }
        Command::Replace(r) => replace(&dir.open_store()?, r, json),
        Command::Photo { order, kind, file } => {
            let store = dir.open_store()?;
            let order_id = resolve_order(&store, &order)?;
            let bytes = std::fs::read(&file)
                .map_err(|e| CliError::new(format!("{}: {e}", file.display())))?;
            let photo = store.add_photo(order_id, kind, &bytes)?;
            let checklist = store.document_checklist(order_id)?;
            if json {
                return print_json(&json!({ "photo": photo, "checklist": checklist }));
            }
            println!(
                "photo {} ({}, {}x{}, {} bytes) added; documents still missing: {}",
                photo.id,
                photo.kind,
                photo.width,
                photo.height,
                photo.bytes,
                if checklist.missing.is_empty() {
                    "none".to_owned()
                } else {
                    checklist
                        .missing
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            Ok(())
        }
        Command::Survey(s) => {
            let store = dir.open_store()?;
            let order_id = resolve_order(&store, &s.order)?;
            let survey = SiteSurvey {
                capacity_kva: s.capacity_kva,
                voltage: s.voltage,
                phases: s.phases.unwrap_or(match s.voltage {
                    Voltage::V220 => 1,
                    _ => 3,
                }),
                connection: ConnectionPoint {
                    station: s.station,
                    line: s.line,
                    transformer: s.transformer,
                    pole_or_box: s.pole,
                },
                load_notes: s.notes,
            };
            store.save_survey(order_id, &survey)?;
            if json {
                return print_json(&survey);
            }
            println!("survey saved");
            Ok(())
        }
        Command::Notes { order, text } => {
            let store = dir.open_store()?;
            let order_id = resolve_order(&store, &order)?;
            store.set_crew_notes(order_id, &text)?;
            if json {
                return print_json(&json!({ "order_id": order_id, "crew_notes": text }));
            }
            println!("notes saved");
            Ok(())
        }
        Command::Evaluate {
            order,
            score,
            comment,
        } => {
            let store = dir.open_store()?;
            let order_id = resolve_order(&store, &order)?;
            let e = store.add_evaluation(order_id, score, &comment)?;
            if json {
                return print_json(&e);
            }
            println!("evaluation {} saved ({score}/5)", e.id);
            Ok(())
        }
        Command::Sync => sync(&dir, json),
        Command::Pending { limit } => {
            let store = dir.open_store()?;
            let entries = store.pending(limit)?;
            if json {
                return print_json(&entries);
            }
            let mut t = table(&[
                "#",
                "entity",
                "op",
                "order",
                "created",
                "attempts",
                "last error",
            ]);
            for e in &entries {
                let number = store
                    .order(e.order_id)
                    .map(|o| o.number)
                    .unwrap_or_else(|_| e.order_id.to_string());
                t.add_row(vec![
                    e.seq.to_string(),
                    e.entity.to_string(),
                    e.op.to_string(),
                    number,
                    output::local(e.created_at),
                    e.attempts.to_string(),
                    e.last_error.clone().unwrap_or_default(),
                ]);
            }
            println!("{t}");
            println!("{} change(s) waiting", store.pending_count()?);
            Ok(())
        }
        Command::Conflicts(c) => conflicts(&dir.open_store()?, c, json),
        Command::Demo {
            orders,
            dir,
            photo_edge,
        } => {
            let options = DemoOptions {
                orders,
                dir,
                photo_edge,
                ..DemoOptions::default()
            };
            let mut say = |line: &str| {
                if !json {
                    println!("{line}");
                }
            };
            let report = demo::run(&options, &mut say)?;
            if json {
                return print_json(&report);
            }
            print!("{}", demo::render(&report));
            Ok(())
        }
    }
}

fn print_json(value: &impl serde::Serialize) -> CliResult<()> {
    println!("{}", output::json(value)?);
    Ok(())
}

fn login(
    dir: &DeviceDir,
    server: &str,
    token: &str,
    ca_cert: Option<&std::path::Path>,
    json: bool,
) -> CliResult<()> {
    let url = server.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(CliError::new(
            "the server URL starts with http:// or https://",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(CliError::new("a token is required"));
    }
    let ca_pem = match ca_cert {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            CliError::new(format!("cannot read --ca-cert {}: {e}", path.display()))
        })?),
        None => None,
    };
    // The sync client's own checks, up front: `http://` only to this machine (loopback), so a
    // device never signs in to a server it would then refuse to sync with, nor sends its token
    // across a network in the clear to find out; the CA file holds certificates.
    let mut settings = device::sync_config(url, token, ca_pem.as_deref());
    // One attempt: a person at a terminal retries.
    settings.retry.max_attempts = 1;
    let client = SyncClient::new(settings).map_err(|e| match e {
        fieldcrew_core::sync::SyncError::Config(m) => {
            CliError::new(format!("cannot sign in to {url}: {m}"))
        }
        other => other.into(),
    })?;
    let me = client.whoami().map_err(|e| match e {
        // The core's handshake failures start "TLS: " (docs/sync-protocol.md).
        fieldcrew_core::sync::SyncError::Network(m) if m.starts_with("TLS: ") => {
            CliError::new(format!(
                "cannot sign in to {url}: {m}{}",
                if ca_cert.is_none() {
                    " (a server with a certificate from the utility's own CA needs --ca-cert)"
                } else {
                    ""
                }
            ))
        }
        other => other.into(),
    })?;
    let crew_id = me.crew_id.ok_or_else(|| {
        CliError::new(format!(
            "the token is a {}'s; a device signs in with a crew member's token",
            me.role
        ))
    })?;
    let config = DeviceConfig {
        server_url: url.to_owned(),
        token: token.to_owned(),
        member_id: me.member_id,
        crew_id,
        extra_root_certs_pem: ca_pem,
    };
    dir.login(&config, None)?;
    if json {
        return print_json(&json!({
            "member_id": config.member_id,
            "crew_id": config.crew_id,
            "server_url": config.server_url,
            "data": dir.path,
        }));
    }
    println!(
        "signed in as {} of crew {} on {}; data in {} — run `fieldcrew sync` to download the crew's orders",
        config.member_id,
        config.crew_id,
        config.server_url,
        dir.path.display()
    );
    Ok(())
}

fn agenda(
    store: &Store,
    day: Option<NaiveDate>,
    near: Option<GeoPoint>,
    json: bool,
) -> CliResult<()> {
    let day = day.unwrap_or_else(|| {
        (store.now()
            + chrono::Duration::seconds(i64::from(store.options().timezone.local_minus_utc())))
        .date_naive()
    });
    let mut query = AgendaQuery::new(day);
    query.position = near;
    let groups = store.agenda(&query)?;
    if json {
        return print_json(&groups);
    }
    let mut t = table(&[
        "area", "when", "number", "kind", "status", "customer", "address", "due", "km",
    ]);
    let mut n = 0;
    for g in &groups {
        for (i, item) in g.items.iter().enumerate() {
            let o = &item.order;
            n += 1;
            t.add_row(vec![
                if i == 0 {
                    g.area.clone()
                } else {
                    String::new()
                },
                if item.carried_over {
                    format!("{} (carried over)", output::appointment(&o.appointment))
                } else {
                    output::appointment(&o.appointment)
                },
                o.number.clone(),
                o.kind.to_string(),
                o.status.to_string(),
                o.customer_name.clone(),
                o.address.clone(),
                o.urgency.map(|u| u.to_string()).unwrap_or_default(),
                item.distance_m
                    .map(|d| format!("{:.1}", d / 1000.0))
                    .unwrap_or_default(),
            ]);
        }
    }
    println!("{t}");
    println!("{n} order(s) in {} area(s) on {day}", groups.len());
    Ok(())
}

fn show(store: &Store, reference: &str, json: bool) -> CliResult<()> {
    let id = resolve_order(store, reference)?;
    let detail = store.order_detail(id)?;
    let photos = store.photos(id)?;
    let checklist = store.document_checklist(id)?;
    if json {
        return print_json(&json!({
            "detail": detail,
            "photos": photos,
            "checklist": checklist,
        }));
    }
    let o = &detail.order;
    let mut t = table(&["", ""]);
    for (k, v) in [
        ("number", o.number.clone()),
        ("id", o.id.to_string()),
        ("kind", o.kind.to_string()),
        ("status", o.status.to_string()),
        ("priority", o.priority.to_string()),
        ("appointment", output::appointment(&o.appointment)),
        (
            "due",
            format!(
                "{}{}",
                output::local(o.due_at()),
                detail
                    .urgency
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default()
            ),
        ),
        (
            "customer",
            format!(
                "{} · account {} · {}",
                o.customer.name, o.customer.account_number, o.customer.phone
            ),
        ),
        ("address", format!("{} ({})", o.site.address, o.site.area)),
        ("dispatch notes", o.dispatch_notes.clone()),
        ("crew notes", o.crew_notes.clone()),
        (
            "crew",
            format!(
                "{}{}",
                o.crew_id,
                o.member_id
                    .as_ref()
                    .map(|m| format!(" / {m}"))
                    .unwrap_or_default()
            ),
        ),
        ("version", o.version.to_string()),
        ("pending changes", detail.pending_changes.to_string()),
    ] {
        t.add_row(vec![k.to_owned(), v]);
    }
    if let Some(s) = &o.survey {
        t.add_row(vec![
            "survey".to_owned(),
            format!(
                "{} kVA, {}, {} phase(s), {}—{}—{}—{}; {}",
                s.capacity_kva,
                s.voltage,
                s.phases,
                s.connection.station,
                s.connection.line,
                s.connection.transformer,
                s.connection.pole_or_box,
                s.load_notes
            ),
        ]);
    }
    println!("{t}");
    if !o.meters.is_empty() {
        let mut m = table(&["meter", "phases", "prepaid", "registers (last reading)"]);
        for meter in &o.meters {
            m.add_row(vec![
                meter.asset_number.clone(),
                meter.phases.to_string(),
                if meter.prepaid { "yes" } else { "no" }.to_owned(),
                meter
                    .registers
                    .iter()
                    .map(|r| match &r.last {
                        Some(l) => {
                            format!("{} {} ({})", r.spec.register, l.value, output::local(l.at))
                        }
                        None => r.spec.register.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ]);
        }
        println!("{m}");
    }
    if !detail.timeline.is_empty() {
        let mut tl = table(&["at", "from", "to", "reason", "member"]);
        for e in &detail.timeline {
            tl.add_row(vec![
                output::local(e.at),
                e.from.to_string(),
                e.to.to_string(),
                e.reason.map(|r| r.to_string()).unwrap_or_default(),
                e.member_id.clone(),
            ]);
        }
        println!("{tl}");
    }
    if !detail.readings.is_empty() {
        let mut r = table(&[
            "reading", "meter", "purpose", "register", "value", "warnings",
        ]);
        for v in &detail.readings {
            let x = &v.reading;
            r.add_row(vec![
                format!(
                    "{}{}",
                    x.id,
                    if v.superseded_by.is_some() {
                        " (superseded)"
                    } else {
                        ""
                    }
                ),
                x.meter_asset.clone(),
                x.purpose.to_string(),
                x.register.to_string(),
                x.value.to_string(),
                x.warnings
                    .iter()
                    .map(|w| format!("{}: {}", w.code, w.reason))
                    .collect::<Vec<_>>()
                    .join("; "),
            ]);
        }
        println!("{r}");
    }
    for rep in &detail.replacements {
        println!(
            "replacement: {} → {}, balance {}, new card {}",
            rep.old_meter,
            rep.new_meter,
            rep.old_balance
                .map(|b| format!("¥{b}"))
                .unwrap_or_else(|| "-".into()),
            rep.new_card.clone().unwrap_or_else(|| "-".into())
        );
    }
    for e in &detail.evaluations {
        println!("evaluation: {}/5 \"{}\"", e.score, e.comment);
    }
    let mut d = table(&["document", "required", "photos"]);
    for item in &checklist.items {
        d.add_row(vec![
            item.kind.to_string(),
            if item.required { "yes" } else { "" }.to_owned(),
            item.photos.to_string(),
        ]);
    }
    println!("{d}");
    Ok(())
}

fn status(
    dir: &DeviceDir,
    a: StatusArgs,
    to: Status,
    reason: Option<SuspendReason>,
    note: &str,
    json: bool,
) -> CliResult<()> {
    let store = dir.open_store()?;
    let order_id = resolve_order(&store, &a.order)?;
    let event = store.report_status(&StatusReport {
        order_id,
        to,
        reason,
        note: note.to_owned(),
        fix: a.gps,
    })?;
    if json {
        return print_json(&event);
    }
    println!(
        "{}: {} → {} at {}",
        a.order,
        event.from,
        event.to,
        output::local(event.at)
    );
    Ok(())
}

fn pick_meter(store: &Store, order_id: Uuid, given: Option<String>) -> CliResult<String> {
    if let Some(m) = given {
        return Ok(m);
    }
    let order = store.order(order_id)?;
    match &order.meters[..] {
        [one] => Ok(one.asset_number.clone()),
        [] => Err(CliError::new(format!(
            "order {} has no meter; give --meter",
            order.number
        ))),
        _ => Err(CliError::new(format!(
            "order {} has {} meters; give --meter ({})",
            order.number,
            order.meters.len(),
            order
                .meters
                .iter()
                .map(|m| m.asset_number.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn replace(store: &Store, r: ReplaceArgs, json: bool) -> CliResult<()> {
    let order_id = resolve_order(store, &r.order)?;
    let old_meter = pick_meter(store, order_id, r.old_meter)?;
    let new_meter = Meter {
        asset_number: r.new_meter,
        phases: r.new_phases,
        registers: r
            .new_start
            .iter()
            .map(|v| MeterRegister {
                spec: RegisterSpec {
                    register: v.register,
                    int_digits: r.new_digits,
                    decimals: 2,
                },
                last: None,
            })
            .collect(),
        multiplier: Decimal::ONE,
        prepaid: r.new_prepaid,
        expected_daily_kwh: None,
    };
    let (record, readings) = store.record_replacement(&ReplacementEntry {
        order_id,
        old_meter,
        old_final: r.old_final,
        old_balance: r.old_balance,
        new_meter,
        new_start: r.new_start,
        new_card: r.new_card,
        photo_id: None,
        confirmations: r.confirmations,
    })?;
    if json {
        return print_json(&json!({ "replacement": record, "readings": readings }));
    }
    println!(
        "meter {} replaced by {}: {} reading(s), balance {}, new card {}",
        record.old_meter,
        record.new_meter,
        readings.len(),
        record
            .old_balance
            .map(|b| format!("¥{b}"))
            .unwrap_or_else(|| "-".into()),
        record.new_card.unwrap_or_else(|| "-".into())
    );
    Ok(())
}

fn sync(dir: &DeviceDir, json: bool) -> CliResult<()> {
    let config = dir.config()?;
    let store = dir.open_store()?;
    let client = SyncClient::new(config.sync_config())?;
    let bar = if json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {prefix:>5} [{bar:30}] {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let report = client.sync(&store, &mut |p| match p.phase {
        SyncPhase::Push => {
            bar.set_prefix("push");
            bar.set_length(p.total.unwrap_or(0));
            bar.set_position(p.done);
        }
        SyncPhase::Pull => {
            bar.set_prefix("pull");
            bar.set_length(p.done.max(1));
            bar.set_position(p.done);
            bar.set_message("changes");
        }
    });
    bar.finish_and_clear();
    let report = report?;
    // Photo bytes after the data, on their own resumable queue (a desktop counts as unmetered).
    let bar = if json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix:>6} [{bar:30}] {bytes}/{total_bytes}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let photos = client.transfer_photos(
        &store,
        fieldcrew_core::sync::NetworkKind::Unmetered,
        &mut |p| {
            bar.set_prefix(match p.direction {
                fieldcrew_core::sync::TransferDirection::Upload => "photo↑",
                fieldcrew_core::sync::TransferDirection::Download => "photo↓",
            });
            bar.set_length(p.total_bytes);
            bar.set_position(p.done_bytes);
        },
    );
    bar.finish_and_clear();
    let photos = photos?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        return print_json(&json!({
            "pushed": report.pushed,
            "applied": report.applied,
            "merged": report.merged,
            "conflicts": report.conflicts,
            "rejected": report.rejected,
            "pages": report.pages,
            "orders_received": report.orders_received,
            "orders_removed": report.orders_removed,
            "conflicts_received": report.conflicts_received,
            "cursor": report.cursor,
            "photos_uploaded": photos.uploaded,
            "photo_upload_failures": photos.upload_failures,
            "photo_bytes_sent": photos.bytes_sent,
            "photos_downloaded": photos.downloaded,
            "seconds": seconds,
        }));
    }
    println!(
        "photos: {} uploaded ({} bytes), {} failed (retried next sync), {} downloaded",
        photos.uploaded, photos.bytes_sent, photos.upload_failures, photos.downloaded
    );
    let mut t = table(&["up", "", "down", ""]);
    t.add_row(vec![
        "pushed".into(),
        report.pushed.to_string(),
        "orders".into(),
        report.orders_received.to_string(),
    ]);
    t.add_row(vec![
        "applied".into(),
        report.applied.to_string(),
        "removed".into(),
        report.orders_removed.to_string(),
    ]);
    t.add_row(vec![
        "merged".into(),
        report.merged.to_string(),
        "conflict records".into(),
        report.conflicts_received.to_string(),
    ]);
    t.add_row(vec![
        "conflicts".into(),
        report.conflicts.to_string(),
        "pages".into(),
        report.pages.to_string(),
    ]);
    t.add_row(vec![
        "rejected".into(),
        report.rejected.to_string(),
        "cursor".into(),
        report.cursor.to_string(),
    ]);
    println!("{t}");
    println!("synced in {seconds:.2} s");
    Ok(())
}

fn conflicts(store: &Store, c: ConflictArgs, json: bool) -> CliResult<()> {
    if let Some(id) = c.ack {
        let done = store
            .acknowledge_conflict(id)
            .map_err(not_found_conflict(id))?;
        if json {
            return print_json(&done);
        }
        println!("conflict {id} acknowledged; it syncs with the next `fieldcrew sync`");
        return Ok(());
    }
    if let Some(id) = c.resolve {
        let choice = match (c.keep, c.lose) {
            (true, false) => ResolveChoice::Kept,
            (false, true) => ResolveChoice::Lost,
            _ => return Err(CliError::new("resolve with --keep or --lose")),
        };
        let done = store
            .resolve_conflict(id, choice, &c.note)
            .map_err(not_found_conflict(id))?;
        if json {
            return print_json(&done);
        }
        println!("conflict {id} resolved ({choice}); it syncs with the next `fieldcrew sync`");
        return Ok(());
    }
    let list = store.conflicts(!c.all)?;
    if json {
        return print_json(&list);
    }
    let mut t = table(&["id", "order", "field", "rule", "kept", "lost", "status"]);
    for k in &list {
        t.add_row(vec![
            k.id.to_string(),
            k.order_number.clone(),
            k.field.clone(),
            k.rule.to_string(),
            format!("{} ({})", k.kept_value, k.kept_by),
            format!("{} ({})", k.lost_value, k.lost_by),
            k.status.to_string(),
        ]);
    }
    println!("{t}");
    println!(
        "{} conflict(s){}",
        list.len(),
        if c.all { "" } else { " open" }
    );
    Ok(())
}

fn not_found_conflict(id: Uuid) -> impl Fn(fieldcrew_core::Error) -> CliError {
    move |e| match e {
        fieldcrew_core::Error::NotFound { .. } => {
            CliError::new(format!("no conflict {id} on this device"))
        }
        other => other.into(),
    }
}
