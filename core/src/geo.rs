//! Positions reported by the phone's GPS.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A WGS-84 position. Construct through [`GeoPoint::new`], which refuses impossible values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl GeoPoint {
    pub fn new(lat: f64, lon: f64) -> Result<Self> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(Error::invalid("lat", "latitude must be between -90 and 90"));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(Error::invalid(
                "lon",
                "longitude must be between -180 and 180",
            ));
        }
        Ok(Self { lat, lon })
    }

    /// Great-circle distance in metres (haversine; plenty for ordering nearby sites).
    pub fn distance_m(&self, other: &GeoPoint) -> f64 {
        const EARTH_RADIUS_M: f64 = 6_371_008.8;
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().asin()
    }
}

/// A GPS fix as the phone reports it: a position and, when known, its accuracy radius.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    pub point: GeoPoint,
    pub accuracy_m: Option<f64>,
}

/// Decimal places kept of a reported position: 4 places is about 11 m of latitude, enough to
/// show that the crew was at the site (a meter room, a building) and no more. The phone's raw
/// trail never leaves the GPS call.
pub const SITE_DECIMALS: i32 = 4;

fn site_level(x: f64) -> f64 {
    let scale = 10f64.powi(SITE_DECIMALS);
    (x * scale).round() / scale
}

impl GeoPoint {
    /// The position rounded to [`SITE_DECIMALS`], as it is stored and sent.
    pub fn site_level(self) -> GeoPoint {
        GeoPoint {
            lat: site_level(self.lat),
            lon: site_level(self.lon),
        }
    }
}

impl Fix {
    /// The fix as it is stored and sent: the position rounded to [`SITE_DECIMALS`] and the
    /// accuracy to whole metres (at least 1 m).
    pub fn site_level(self) -> Fix {
        Fix {
            point: self.point.site_level(),
            accuracy_m: self.accuracy_m.map(|a| a.round().max(1.0)),
        }
    }

    pub fn new(lat: f64, lon: f64, accuracy_m: Option<f64>) -> Result<Self> {
        if let Some(a) = accuracy_m
            && (!a.is_finite() || a < 0.0)
        {
            return Err(Error::invalid(
                "accuracy_m",
                "accuracy must be a non-negative number of metres",
            ));
        }
        Ok(Self {
            point: GeoPoint::new(lat, lon)?,
            accuracy_m,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixes_are_kept_at_site_level() {
        let f = Fix::new(30.270_149_9, 120.130_251, Some(4.37))
            .unwrap()
            .site_level();
        assert_eq!(f.point.lat, 30.2701);
        assert_eq!(f.point.lon, 120.1303);
        assert_eq!(f.accuracy_m, Some(4.0));
        let moved = f
            .point
            .distance_m(&GeoPoint::new(30.270_149_9, 120.130_251).unwrap());
        assert!(moved < 10.0, "{moved}");
    }

    #[test]
    fn rejects_impossible_positions() {
        assert!(GeoPoint::new(91.0, 0.0).is_err());
        assert!(GeoPoint::new(0.0, -181.0).is_err());
        assert!(GeoPoint::new(f64::NAN, 0.0).is_err());
        assert!(Fix::new(30.0, 120.0, Some(-1.0)).is_err());
        assert!(Fix::new(30.0, 120.0, Some(8.0)).is_ok());
    }

    #[test]
    fn distance_between_two_shaoxing_sites() {
        // Shaoxing railway station to Keqiao district centre: about 10.6 km.
        let a = GeoPoint::new(30.0143, 120.5790).unwrap();
        let b = GeoPoint::new(30.0836, 120.4936).unwrap();
        let d = a.distance_m(&b);
        assert!((10_500.0..11_300.0).contains(&d), "distance {d}");
        assert_eq!(a.distance_m(&a), 0.0);
    }
}
