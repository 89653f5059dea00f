//! What the camera's EXIF block says that the pipeline or the crew needs: the orientation (applied
//! to the pixels) and the capture time and position (kept in the database). Nothing of it is
//! written into the stored files. Broken EXIF is ignored, never a reason to refuse a photo.

use chrono::{FixedOffset, NaiveDate, NaiveDateTime};
use exif::{In, Reader, Tag, Value};

use crate::geo::GeoPoint;

/// The parts of the camera's metadata the core keeps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaptureInfo {
    /// When the camera took the photo, in the camera's local time (EXIF DateTimeOriginal).
    pub taken_at: Option<NaiveDateTime>,
    /// The camera's UTC offset at that time (EXIF OffsetTimeOriginal), where it recorded one.
    pub utc_offset: Option<FixedOffset>,
    /// Where the camera was (EXIF GPS), where it recorded it.
    pub location: Option<GeoPoint>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ExifInfo {
    /// 1..=8 as EXIF defines it; 1 (upright) when absent or invalid.
    pub orientation: u8,
    pub capture: CaptureInfo,
}

pub(crate) fn read(tiff: &[u8]) -> ExifInfo {
    let mut info = ExifInfo {
        orientation: 1,
        capture: CaptureInfo::default(),
    };
    let Ok(exif) = Reader::new().read_raw(tiff.to_vec()) else {
        return info;
    };
    if let Some(o) = exif
        .get_field(Tag::Orientation, In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .filter(|o| (1..=8).contains(o))
    {
        info.orientation = o as u8;
    }
    let ascii = |tag| match exif.get_field(tag, In::PRIMARY).map(|f| &f.value) {
        Some(Value::Ascii(v)) => v.first().cloned(),
        _ => None,
    };
    let taken = ascii(Tag::DateTimeOriginal).or_else(|| ascii(Tag::DateTime));
    if let Some(mut dt) = taken.and_then(|a| exif::DateTime::from_ascii(&a).ok()) {
        if let Some(off) = ascii(Tag::OffsetTimeOriginal).or_else(|| ascii(Tag::OffsetTime)) {
            let _ = dt.parse_offset(&off);
        }
        info.capture.taken_at =
            NaiveDate::from_ymd_opt(dt.year.into(), dt.month.into(), dt.day.into())
                .and_then(|d| d.and_hms_opt(dt.hour.into(), dt.minute.into(), dt.second.into()));
        info.capture.utc_offset = dt
            .offset
            .and_then(|m| FixedOffset::east_opt(i32::from(m) * 60));
    }
    let coord = |tag, reference, negative: &[u8]| -> Option<f64> {
        let Some(Value::Rational(parts)) = exif.get_field(tag, In::PRIMARY).map(|f| &f.value)
        else {
            return None;
        };
        if parts.len() < 3 || parts.iter().take(3).any(|r| r.denom == 0) {
            return None;
        }
        let v = parts[0].to_f64() + parts[1].to_f64() / 60.0 + parts[2].to_f64() / 3600.0;
        let sign = match ascii(reference) {
            Some(r) if r.first().is_some_and(|c| negative.contains(c)) => -1.0,
            _ => 1.0,
        };
        Some(sign * v)
    };
    if let (Some(lat), Some(lon)) = (
        coord(Tag::GPSLatitude, Tag::GPSLatitudeRef, b"Ss"),
        coord(Tag::GPSLongitude, Tag::GPSLongitudeRef, b"Ww"),
    ) {
        info.capture.location = GeoPoint::new(lat, lon).ok();
    }
    info
}
