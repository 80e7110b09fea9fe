//! The date-time forms a `datetime` range or payload value may take, parsed to UTC.

/// A UTC instant: whole seconds since 1970-01-01T00:00:00Z and nanoseconds within the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct UtcInstant {
    /// Whole seconds since the epoch; negative before 1970.
    pub(crate) secs: i64,
    /// Nanoseconds after `secs`, below one second.
    pub(crate) nanos: u32,
}

/// Parses the date-time forms documented on [`Range`]; `None` for anything else.
pub(crate) fn parse_datetime(text: &str) -> Option<UtcInstant> {
    let mut input = Cursor(text.as_bytes());
    let year = input.digits(4)?;
    input.expect(b'-')?;
    let month = input.digits(2)?;
    input.expect(b'-')?;
    let day = input.digits(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if input.is_empty() {
        return Some(UtcInstant {
            secs: days * 86_400,
            nanos: 0,
        });
    }
    match input.next()? {
        b'T' | b't' | b' ' => {}
        _ => return None,
    }
    let hour = input.digits(2)?;
    input.expect(b':')?;
    let minute = input.digits(2)?;
    let (mut second, mut nanos) = (0, 0);
    if input.peek() == Some(b':') {
        input.next();
        second = input.digits(2)?;
        if input.peek() == Some(b'.') {
            input.next();
            let mut count = 0;
            while let Some(digit) = input.peek().filter(u8::is_ascii_digit) {
                input.next();
                if count < 9 {
                    nanos = nanos * 10 + u32::from(digit - b'0');
                }
                count += 1;
            }
            if count == 0 {
                return None;
            }
            for _ in count..9 {
                nanos *= 10;
            }
        }
    }
    // RFC 3339 allows a leap second (`:60`); it counts as the first second of the next minute.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let offset = match input.next() {
        None => 0,
        Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let hours = input.digits(2)?;
            if input.peek() == Some(b':') {
                input.next();
            }
            let minutes = if input.is_empty() {
                0
            } else {
                input.digits(2)?
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        Some(_) => return None,
    };
    if !input.is_empty() {
        return None;
    }
    Some(UtcInstant {
        secs: days * 86_400 + hour * 3600 + minute * 60 + second - offset,
        nanos,
    })
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    /// Exactly `count` ASCII digits as a number.
    fn digits(&mut self, count: usize) -> Option<i64> {
        let mut value = 0;
        for _ in 0..count {
            let digit = self.next().filter(u8::is_ascii_digit)?;
            value = value * 10 + i64::from(digit - b'0');
        }
        Some(value)
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
