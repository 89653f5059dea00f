//! Human output: tidy tables and short formats. `--json` output bypasses all of this.

use chrono::{DateTime, FixedOffset, Utc};
use comfy_table::{ContentArrangement, Table, presets};
use fieldcrew_core::work_order::Appointment;

pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    t
}

fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// A time in the utility's zone (Beijing time), `MM-DD HH:MM`.
pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&china()).format("%m-%d %H:%M").to_string()
}

pub fn appointment(a: &Appointment) -> String {
    match a {
        Appointment::Slot { start, end } => format!(
            "{}-{}",
            local(*start),
            end.with_timezone(&china()).format("%H:%M")
        ),
        Appointment::Within { hours } => format!("within {hours} h"),
        Appointment::Deadline { by } => format!("by {}", local(*by)),
    }
}

pub fn json(value: &impl serde::Serialize) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(value)
}
