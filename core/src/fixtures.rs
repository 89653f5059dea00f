//! Realistic, deterministic work orders for benchmarks, tests, the demo and a server's seed data.
//!
//! A city's day: orders of every kind spread over a handful of supply areas (供电所), with
//! Chinese customer names and addresses, appointments in all three modes, and meters whose last
//! billed readings make validation meaningful. The same seed always gives the same orders.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use crate::geo::GeoPoint;
use crate::reading::{HistoryPoint, Register, RegisterSpec};
use crate::work_order::{
    Appointment, Customer, Meter, MeterRegister, Priority, Site, Status, WorkKind, WorkOrder,
};

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建华", "志强",
];
const BUSINESSES: &[&str] = &[
    "鑫达五金店",
    "好运来超市",
    "明珠餐馆",
    "恒通汽修",
    "绿源农家乐",
    "星光理发店",
    "宏图印刷厂",
    "康宁药房",
];
/// Supply areas with a centre point (a city of Zhejiang, roughly).
const AREAS: &[(&str, f64, f64)] = &[
    ("西湖供电所", 30.259, 120.130),
    ("拱墅供电所", 30.319, 120.142),
    ("滨江供电所", 30.208, 120.211),
    ("萧山城区供电所", 30.162, 120.264),
    ("余杭良渚供电所", 30.372, 120.036),
    ("富阳新登供电所", 29.983, 119.735),
];
const STREETS: &[&str] = &[
    "文三路",
    "莫干山路",
    "江南大道",
    "人民路",
    "建设一路",
    "良渚大道",
    "春江路",
    "解放路",
    "学院路",
    "滨盛路",
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct CityDay {
    pub seed: u64,
    /// Orders to generate.
    pub orders: usize,
    /// Crews the orders are assigned to, round-robin by area.
    pub crews: Vec<String>,
    /// The working day (local, UTC+8) most appointments fall on; some are days before or after.
    pub day: NaiveDate,
    /// How many days before and after `day` the other appointments spread over.
    pub spread_days: i64,
}

impl CityDay {
    pub fn new(seed: u64, orders: usize, day: NaiveDate) -> Self {
        Self {
            seed,
            orders,
            crews: vec!["crew-west".into(), "crew-east".into(), "crew-north".into()],
            day,
            spread_days: 0,
        }
    }

    pub fn generate(&self) -> Vec<WorkOrder> {
        let mut rng = StdRng::seed_from_u64(self.seed);
        (0..self.orders).map(|i| self.order(&mut rng, i)).collect()
    }

    fn order(&self, rng: &mut StdRng, i: usize) -> WorkOrder {
        let kind = WorkKind::ALL[rng.random_range(0..WorkKind::ALL.len())];
        let area_ix = rng.random_range(0..AREAS.len());
        let (area, lat, lon) = AREAS[area_ix];
        let crew = if self.crews.is_empty() {
            "crew-1".to_owned()
        } else {
            self.crews[area_ix % self.crews.len()].clone()
        };
        let offset = if self.spread_days > 0 {
            rng.random_range(-self.spread_days..=self.spread_days)
        } else {
            0
        };
        let day = self.day + Duration::days(offset);
        let day_start = local_midnight(day);
        let accepted_at = day_start - Duration::hours(rng.random_range(4..48));
        let appointment = match rng.random_range(0..10) {
            0..=5 => {
                let start = day_start + Duration::minutes(8 * 60 + 30 * rng.random_range(0..18));
                Appointment::Slot {
                    start,
                    end: start + Duration::hours(2),
                }
            }
            6..=7 => Appointment::Within {
                hours: [24, 48, 72][rng.random_range(0..3)],
            },
            _ => Appointment::Deadline {
                by: day_start + Duration::hours(18),
            },
        };
        let name = if rng.random_bool(0.2) {
            BUSINESSES[rng.random_range(0..BUSINESSES.len())].to_owned()
        } else {
            format!(
                "{}{}",
                SURNAMES[rng.random_range(0..SURNAMES.len())],
                GIVEN[rng.random_range(0..GIVEN.len())]
            )
        };
        let street = STREETS[rng.random_range(0..STREETS.len())];
        let location = GeoPoint::new(
            lat + rng.random_range(-0.02..0.02),
            lon + rng.random_range(-0.02..0.02),
        )
        .ok();
        let meters = match kind {
            WorkKind::NewConnection | WorkKind::SiteSurvey => Vec::new(),
            _ => vec![meter(rng, day_start, i)],
        };
        WorkOrder {
            id: uuid::Builder::from_unix_timestamp_millis(
                u64::try_from(accepted_at.timestamp_millis()).unwrap_or(0),
                &rng.random::<[u8; 10]>(),
            )
            .into_uuid(),
            number: format!("GD{}{:06}", day.format("%Y%m%d"), i + 1),
            kind,
            status: if rng.random_bool(0.15) {
                Status::Accepted
            } else {
                Status::Dispatched
            },
            priority: [
                Priority::Normal,
                Priority::Normal,
                Priority::High,
                Priority::Low,
                Priority::Urgent,
            ][rng.random_range(0..5)],
            customer: Customer {
                name,
                account_number: format!("33{:08}", rng.random_range(0..100_000_000u32)),
                phone: format!("13{:09}", rng.random_range(0..1_000_000_000u32)),
            },
            site: Site {
                address: format!(
                    "浙江省杭州市{}{}号{}幢{}单元",
                    street,
                    rng.random_range(1..999),
                    rng.random_range(1..30),
                    rng.random_range(1..6)
                ),
                area: area.to_owned(),
                location,
            },
            meters,
            required_documents: kind.default_documents().to_vec(),
            appointment,
            accepted_at,
            dispatch_notes: match kind {
                WorkKind::FaultRepair => "客户报修：家中停电".to_owned(),
                WorkKind::MeterReplacement => "表计到期轮换".to_owned(),
                _ => String::new(),
            },
            crew_notes: String::new(),
            survey: None,
            crew_id: crew,
            member_id: None,
            version: 1,
        }
    }
}

fn meter(rng: &mut StdRng, day_start: DateTime<Utc>, i: usize) -> Meter {
    let last_at = day_start - Duration::days(rng.random_range(25..40));
    let tou = rng.random_bool(0.5);
    let total = Decimal::new(rng.random_range(100_000..5_000_000), 2);
    let mut registers = vec![MeterRegister {
        spec: RegisterSpec {
            register: Register::Total,
            int_digits: 6,
            decimals: 2,
        },
        last: Some(HistoryPoint {
            value: total,
            at: last_at,
        }),
    }];
    if tou {
        // Peak 40 %, flat 35 %, valley the rest, so the parts add up to the total.
        let peak = (total * Decimal::new(40, 2)).round_dp(2);
        let flat = (total * Decimal::new(35, 2)).round_dp(2);
        let valley = total - peak - flat;
        for (register, value) in [
            (Register::Peak, peak),
            (Register::Flat, flat),
            (Register::Valley, valley),
        ] {
            registers.push(MeterRegister {
                spec: RegisterSpec {
                    register,
                    int_digits: 6,
                    decimals: 2,
                },
                last: Some(HistoryPoint { value, at: last_at }),
            });
        }
    }
    Meter {
        asset_number: format!("33101{:011}", 40_000_000_000u64 + i as u64),
        phases: if rng.random_bool(0.8) { 1 } else { 3 },
        registers,
        multiplier: Decimal::ONE,
        prepaid: rng.random_bool(0.3),
        expected_daily_kwh: Some(Decimal::new(rng.random_range(30..300), 1)),
    }
}

/// Midnight of `day` in China Standard Time, as UTC.
pub fn local_midnight(day: NaiveDate) -> DateTime<Utc> {
    let tz = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"))
        .single()
        .expect("a fixed offset has no gaps")
        .with_timezone(&Utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_orders_are_valid_and_deterministic() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let a = CityDay::new(7, 200, day).generate();
        let b = CityDay::new(7, 200, day).generate();
        assert_eq!(a, b);
        let ids: std::collections::HashSet<_> = a.iter().map(|o| o.id).collect();
        assert_eq!(ids.len(), 200);
        for o in &a {
            o.appointment.check().unwrap();
            for m in &o.meters {
                m.check().unwrap();
            }
        }
        for kind in WorkKind::ALL {
            assert!(a.iter().any(|o| o.kind == *kind), "no {kind} order");
        }
    }
}
