//! Hybrid logical clock (Kulkarni et al., 2014).
//!
//! Every change a device makes is stamped with an HLC. Stamps are totally ordered, never go
//! backwards on one device even when its wall clock does (a phone whose time was set back, or
//! synced to a wrong network time), and move forward past any stamp the device has seen from the
//! server. The server uses them to pick a deterministic winner when two devices of one crew edit
//! the same crew-owned field.
//!
//! The last stamp is persisted in the store, in the same transaction as the outbox entry that
//! carries it, so a restart can never hand out a stamp twice.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// One stamp: wall-clock milliseconds, a counter for events within the same millisecond (or while
/// the wall clock lags), and the device that made it as a tie-break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hlc {
    pub wall_ms: i64,
    pub counter: u32,
    pub node: Uuid,
}

impl Hlc {
    pub const ZERO: Hlc = Hlc {
        wall_ms: 0,
        counter: 0,
        node: Uuid::nil(),
    };

    /// The next local stamp after `last`, given the device's current wall clock.
    pub fn tick(last: Hlc, now_ms: i64, node: Uuid) -> Hlc {
        if now_ms > last.wall_ms {
            Hlc {
                wall_ms: now_ms,
                counter: 0,
                node,
            }
        } else {
            Self::bump(last.wall_ms, last.counter, node)
        }
    }

    /// The local stamp after receiving `remote`: later than both `last` and `remote`.
    pub fn observe(last: Hlc, remote: Hlc, now_ms: i64, node: Uuid) -> Hlc {
        let wall = now_ms.max(last.wall_ms).max(remote.wall_ms);
        let counter = if wall == last.wall_ms && wall == remote.wall_ms {
            last.counter.max(remote.counter)
        } else if wall == last.wall_ms {
            last.counter
        } else if wall == remote.wall_ms {
            remote.counter
        } else {
            // The wall clock is ahead of everything seen: a fresh millisecond.
            return Hlc {
                wall_ms: wall,
                counter: 0,
                node,
            };
        };
        Self::bump(wall, counter, node)
    }

    fn bump(wall_ms: i64, counter: u32, node: Uuid) -> Hlc {
        match counter.checked_add(1) {
            Some(c) => Hlc {
                wall_ms,
                counter: c,
                node,
            },
            // Four billion events in one millisecond: borrow the next millisecond.
            None => Hlc {
                wall_ms: wall_ms + 1,
                counter: 0,
                node,
            },
        }
    }
}

impl fmt::Display for Hlc {
    /// Fixed-width so that string order is stamp order: `0001732516000000-00000003-<node>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:016}-{:08x}-{}",
            self.wall_ms,
            self.counter,
            self.node.simple()
        )
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed HLC stamp")]
pub struct HlcParseError;

impl FromStr for Hlc {
    type Err = HlcParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, '-');
        let wall = parts.next().ok_or(HlcParseError)?;
        let counter = parts.next().ok_or(HlcParseError)?;
        let node = parts.next().ok_or(HlcParseError)?;
        if wall.len() != 16 || counter.len() != 8 || !wall.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HlcParseError);
        }
        Ok(Hlc {
            wall_ms: wall.parse().map_err(|_| HlcParseError)?,
            counter: u32::from_str_radix(counter, 16).map_err(|_| HlcParseError)?,
            node: Uuid::try_parse(node).map_err(|_| HlcParseError)?,
        })
    }
}

impl Serialize for Hlc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hlc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn node(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn tick_follows_wall_clock_and_survives_it_going_back() {
        let a = Hlc::tick(Hlc::ZERO, 1_000, node(1));
        assert_eq!((a.wall_ms, a.counter), (1_000, 0));
        let b = Hlc::tick(a, 1_000, node(1));
        assert_eq!((b.wall_ms, b.counter), (1_000, 1));
        // The clock jumps two hours back: stamps still move forward.
        let c = Hlc::tick(b, 1_000 - 7_200_000, node(1));
        assert!(c > b);
        assert_eq!((c.wall_ms, c.counter), (1_000, 2));
    }

    #[test]
    fn observe_moves_past_remote_stamp() {
        let local = Hlc {
            wall_ms: 500,
            counter: 3,
            node: node(1),
        };
        let remote = Hlc {
            wall_ms: 900,
            counter: 7,
            node: node(2),
        };
        let next = Hlc::observe(local, remote, 100, node(1));
        assert!(next > remote && next > local);
        assert_eq!((next.wall_ms, next.counter, next.node), (900, 8, node(1)));
        let fresh = Hlc::observe(local, remote, 2_000, node(1));
        assert_eq!((fresh.wall_ms, fresh.counter), (2_000, 0));
    }

    #[test]
    fn counter_overflow_borrows_next_millisecond() {
        let last = Hlc {
            wall_ms: 10,
            counter: u32::MAX,
            node: node(1),
        };
        let next = Hlc::tick(last, 5, node(1));
        assert!(next > last);
        assert_eq!((next.wall_ms, next.counter), (11, 0));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "1-2",
            "abc-00000001-00000000000000000000000000000001",
            "0000000000000001-zz-x",
        ] {
            assert_eq!(bad.parse::<Hlc>(), Err(HlcParseError), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn stamps_strictly_increase_whatever_the_wall_clock_does(
            clocks in proptest::collection::vec(-10_000_000i64..10_000_000_000_000, 1..200),
            remotes in proptest::collection::vec(proptest::option::of((0i64..10_000_000_000_000, 0u32..1000)), 1..200),
        ) {
            let me = node(7);
            let mut last = Hlc::ZERO;
            for (i, now) in clocks.iter().enumerate() {
                let next = match remotes.get(i).copied().flatten() {
                    Some((w, c)) => {
                        let remote = Hlc { wall_ms: w, counter: c, node: node(9) };
                        let n = Hlc::observe(last, remote, *now, me);
                        prop_assert!(n > remote);
                        n
                    }
                    None => Hlc::tick(last, *now, me),
                };
                prop_assert!(next > last);
                prop_assert!(next.wall_ms >= *now);
                last = next;
            }
        }

        #[test]
        fn text_form_round_trips_and_sorts_like_stamps(
            a in (0i64..9_999_999_999_999_999, any::<u32>(), any::<u128>()),
            b in (0i64..9_999_999_999_999_999, any::<u32>(), any::<u128>()),
        ) {
            let ha = Hlc { wall_ms: a.0, counter: a.1, node: Uuid::from_u128(a.2) };
            let hb = Hlc { wall_ms: b.0, counter: b.1, node: Uuid::from_u128(b.2) };
            prop_assert_eq!(ha.to_string().parse::<Hlc>().unwrap(), ha);
            prop_assert_eq!(ha.cmp(&hb), ha.to_string().cmp(&hb.to_string()));
        }
    }
}
