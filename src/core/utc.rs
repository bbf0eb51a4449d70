//! UTC calendar time from the system clock, without a date library: the console's dates and
//! the audit log's RFC 3339 timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC time, proleptic Gregorian calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl Utc {
    /// `t` in UTC (times before 1970 read as 1970-01-01).
    pub(crate) fn of(t: SystemTime) -> Utc {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = d.as_secs() as i64;
        // civil-from-days, H. Hinnant.
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        Utc {
            year: yoe + era * 400 + if month <= 2 { 1 } else { 0 },
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: ((rem % 3600) / 60) as u32,
            second: (rem % 60) as u32,
            millis: d.subsec_millis(),
        }
    }

    /// RFC 3339 with milliseconds: `2026-12-03T09:05:07.042Z`.
    pub(crate) fn write_rfc3339_millis(&self, out: &mut impl std::io::Write) {
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn calendar_and_rfc3339() {
        let at = |ms: u64| {
            let mut out = Vec::new();
            Utc::of(UNIX_EPOCH + Duration::from_millis(ms)).write_rfc3339_millis(&mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        // 2025-11-25T00:00:00Z, and a leap day.
        assert_eq!(
            at(1_764_028_800_000 + 3_723_004),
            "2025-11-25T01:02:03.004Z"
        );
        assert_eq!(at(951_782_400_000 + 86_399_999), "2000-02-29T23:59:59.999Z");
    }
}
