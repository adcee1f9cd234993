//! UTC calendar arithmetic for unix timestamps: the month slots the importer splits time by.

/// The UTC civil date `(year, month 1..=12, day 1..=31)` of unix seconds `ts`.
pub(crate) fn utc_date(ts: i64) -> (i64, u32, u32) {
    // Days-to-civil conversion on the proleptic Gregorian calendar (eras of 400 years).
    let z = ts.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Months since January of year 0: consecutive calendar months get consecutive numbers.
pub(crate) fn month_slot(ts: i64) -> i64 {
    let (year, month, _) = utc_date(ts);
    year * 12 + i64::from(month) - 1
}

/// `YYYY-MM` of a month slot.
pub(crate) fn month_label(slot: i64) -> String {
    format!("{:04}-{:02}", slot.div_euclid(12), slot.rem_euclid(12) + 1)
}

/// `YYYY-MM-DD` of unix seconds.
pub(crate) fn date_label(ts: i64) -> String {
    let (year, month, day) = utc_date(ts);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(utc_date(0), (1970, 1, 1));
        assert_eq!(utc_date(-1), (1969, 12, 31));
        // 2001-06-01T00:00:00Z and one second before it.
        assert_eq!(utc_date(991_353_600), (2001, 6, 1));
        assert_eq!(utc_date(991_353_599), (2001, 5, 31));
        // A leap day.
        assert_eq!(date_label(951_782_400), "2000-02-29");
        assert_eq!(month_label(month_slot(1_043_971_200)), "2003-01");
        assert_eq!(month_slot(991_353_600) - month_slot(991_353_599), 1);
    }
}
