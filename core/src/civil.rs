//! Calendar arithmetic: the days between 1970-01-01 and a date of the proleptic Gregorian
//! calendar (Howard Hinnant's `days_from_civil`), for the dates that servers and certificates
//! write out.

/// Days since 1970-01-01 of `year`-`month`-`day` (negative before it). The caller checks the
/// ranges (month 1–12, day 1–31).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of the UTC day `unix_ms` falls on (the inverse of [`days_from_civil`]).
pub(crate) fn date(unix_ms: i64) -> String {
    let z = unix_ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the UTC time `unix_ms` names (RFC 3339), for log lines.
pub fn timestamp(unix_ms: i64) -> String {
    let ms = unix_ms.rem_euclid(86_400_000);
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        date(unix_ms),
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::{date, days_from_civil, timestamp};

    #[test]
    fn a_timestamp_in_utc() {
        let ms = days_from_civil(2026, 12, 7) * 86_400_000 + ((6 * 60 + 5) * 60 + 9) * 1000 + 42;
        assert_eq!(timestamp(ms), "2026-12-07T06:05:09.042Z");
        assert_eq!(timestamp(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn dates_back_and_forth() {
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2026, 12, 7), (1969, 12, 31)] {
            let ms = days_from_civil(y, m, d) * 86_400_000 + 3_600_000;
            assert_eq!(date(ms), format!("{y:04}-{m:02}-{d:02}"));
        }
    }

    #[test]
    fn known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2023, 11, 15), 19_676);
        assert_eq!(days_from_civil(2050, 1, 1), 29_220);
    }
}
