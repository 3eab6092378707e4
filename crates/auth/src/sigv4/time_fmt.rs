//! The two date forms SigV4 reads (`X-Amz-Date`'s ISO 8601 basic form and the HTTP `Date`
//! header's IMF-fixdate) and the one it writes.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// Parses `yyyymmddThhmmssZ` into unix seconds. Strict: exactly 16 ASCII characters, as every
/// SDK writes it, so the string to sign can carry the header value unchanged.
pub(crate) fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        let digits = s.get(from..to)?;
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let year = i32::try_from(num(0, 4)?).ok()?;
    let month = Month::try_from(u8::try_from(num(4, 6)?).ok()?).ok()?;
    let day = u8::try_from(num(6, 8)?).ok()?;
    let hour = u8::try_from(num(9, 11)?).ok()?;
    let minute = u8::try_from(num(11, 13)?).ok()?;
    let second = u8::try_from(num(13, 15)?).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    Some(
        PrimitiveDateTime::new(date, time)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// Parses an HTTP `Date` header in IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`), the
/// only form current clients send.
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    PrimitiveDateTime::parse(s.trim(), format)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// Formats unix seconds as `yyyymmddThhmmssZ`. Out-of-range times (beyond year 9999) print as
/// the nearest representable bound; they only ever appear in error messages.
pub(crate) fn format_amz_date(unix: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(if unix < 0 {
        OffsetDateTime::UNIX_EPOCH
    } else {
        // 9999-12-31T23:59:59Z, the last instant the basic format can write.
        OffsetDateTime::from_unix_timestamp(253_402_300_799).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    });
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_round_trips() {
        let t = parse_amz_date("20240115T120000Z").unwrap();
        assert_eq!(t, 1_705_320_000);
        assert_eq!(format_amz_date(t), "20240115T120000Z");
    }

    #[test]
    fn rejects_amz_date_with_offset_or_extended_form() {
        assert_eq!(parse_amz_date("2024-01-15T12:00:00Z"), None);
        assert_eq!(parse_amz_date("20240115T120000+"), None);
        assert_eq!(parse_amz_date("20241315T120000Z"), None);
        assert_eq!(parse_amz_date("2024011 T120000Z"), None);
        assert_eq!(parse_amz_date("+0240115T120000Z"), None);
    }

    #[test]
    fn parses_imf_fixdate() {
        assert_eq!(
            parse_http_date("Mon, 15 Jan 2024 12:00:00 GMT"),
            Some(1_705_320_000)
        );
        assert_eq!(parse_http_date("15 Jan 2024 12:00:00"), None);
    }
}
