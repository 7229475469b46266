//! Parsing durations given on the command line (`--idle-timeout 30m`).

use std::time::Duration;

/// `90s`, `30m`, `1h`, `1h30m`; a plain number is minutes. At least one second, at most a week.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "'{text}' is not a duration: expected a number with a unit s, m or h (for example \
             90s, 30m, 1h, 1h30m; a plain number is minutes)"
        )
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut saw_unit = false;
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let value: u64 = number.parse().map_err(|_| bad())?;
        total = value
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(bad)?;
        number.clear();
        saw_unit = true;
    }
    if !number.is_empty() {
        if saw_unit {
            return Err(bad());
        }
        let minutes: u64 = number.parse().map_err(|_| bad())?;
        total = minutes.checked_mul(60).ok_or_else(bad)?;
    }
    const WEEK: u64 = 7 * 24 * 3600;
    if total == 0 {
        return Err(format!("'{text}' is too short: at least 1s"));
    }
    if total > WEEK {
        return Err(format!("'{text}' is too long: at most a week (168h)"));
    }
    Ok(Duration::from_secs(total))
}

/// `90 s`, `30 min`, `1 h 30 min` for messages (of the Unix auto-dismount).
#[cfg(unix)]
pub fn duration_text(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s} s"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_plain_minutes() {
        let secs = |text| parse_duration(text).map(|d| d.as_secs());
        assert_eq!(secs("90s"), Ok(90));
        assert_eq!(secs("30m"), Ok(1800));
        assert_eq!(secs("30M"), Ok(1800));
        assert_eq!(secs("1h"), Ok(3600));
        assert_eq!(secs("1h30m"), Ok(5400));
        assert_eq!(secs("15"), Ok(900));
        for bad in ["", "m", "1.5h", "1d", "30m5", "-3m", "0", "0s", "200h"] {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
    }

    #[cfg(unix)]
    #[test]
    fn durations_read_well_in_messages() {
        assert_eq!(duration_text(Duration::from_secs(90)), "1 min 30 s");
        assert_eq!(duration_text(Duration::from_secs(1800)), "30 min");
        assert_eq!(duration_text(Duration::from_secs(3600)), "1 h");
    }
}
