//! Python's release lifecycle: when each minor version stops getting security fixes (python.org's
//! end-of-life dates, kept here), and what a deployment on it is told.
//!
//! A minor past its end of life is refused unless the app sets `ALLOW_EOL_PYTHON=true`; for
//! [`GRACE`] after the date it is only warned about, so an app has time to move. A minor within
//! [`SOON`] of its end of life is warned about with the date.

use time::{Date, Duration, Month};

use crate::runtime::PythonVersion;

/// After its end of life, how long a minor is still deployed with a warning.
pub const GRACE: Duration = Duration::days(92);
/// Before its end of life, from when a minor is warned about.
pub const SOON: Duration = Duration::days(183);

/// `(major, minor)`.
type Minor = (u32, u32);
/// `(year, month, day)`.
type Day = (i32, Month, u8);

/// python.org's end-of-life dates (<https://devguide.python.org/versions/>); for the minors whose
/// page gives only a month, its last day.
const END_OF_LIFE: &[(Minor, Day)] = &[
    ((2, 7), (2020, Month::January, 1)),
    ((3, 5), (2020, Month::September, 30)),
    ((3, 6), (2021, Month::December, 23)),
    ((3, 7), (2023, Month::June, 27)),
    ((3, 8), (2024, Month::October, 7)),
    ((3, 9), (2025, Month::October, 31)),
    ((3, 10), (2026, Month::October, 31)),
    ((3, 11), (2027, Month::October, 31)),
    ((3, 12), (2028, Month::October, 31)),
    ((3, 13), (2029, Month::October, 31)),
    ((3, 14), (2030, Month::October, 31)),
];

/// Where a minor stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Supported, and not ending within [`SOON`] (or a minor newer than this table).
    Supported,
    /// Supported until the date, which is within [`SOON`].
    EndsSoon { end_of_life: Date },
    /// Past its end of life, but within [`GRACE`]: deployed with a warning until `refused_from`.
    Grace { end_of_life: Date, refused_from: Date },
    /// Past its end of life and its grace.
    EndOfLife { end_of_life: Date },
}

/// The end-of-life date of `version`'s minor, if python.org has given one.
pub fn end_of_life(version: &PythonVersion) -> Option<Date> {
    let (_, (year, month, day)) = END_OF_LIFE.iter().find(|(minor, _)| *minor == (version.major, version.minor))?;
    Date::from_calendar_date(*year, *month, *day).ok()
}

pub fn support(version: &PythonVersion, today: Date) -> Support {
    let Some(end_of_life) = end_of_life(version) else {
        // Older than the table (2.6, 3.4): long past; newer: not yet dated.
        return if (version.major, version.minor) < (2, 7) {
            Support::EndOfLife { end_of_life: Date::MIN }
        } else {
            Support::Supported
        };
    };
    if today < end_of_life - SOON {
        Support::Supported
    } else if today <= end_of_life {
        Support::EndsSoon { end_of_life }
    } else if today <= end_of_life + GRACE {
        Support::Grace { end_of_life, refused_from: end_of_life + GRACE + Duration::days(1) }
    } else {
        Support::EndOfLife { end_of_life }
    }
}

/// A runtime as the server lists it: with where its minor stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ListedRuntime<'a> {
    #[serde(flatten)]
    pub runtime: &'a crate::Runtime,
    /// python.org's end-of-life date of its minor (`YYYY-MM-DD`), if there is one.
    pub end_of_life: Option<String>,
    /// `supported`, `ends soon`, `end of life (grace)` or `end of life`.
    pub support: &'static str,
}

impl Support {
    /// For listings: `supported`, `ends soon`, `end of life (grace)`, `end of life`.
    pub fn label(&self) -> &'static str {
        match self {
            Support::Supported => "supported",
            Support::EndsSoon { .. } => "ends soon",
            Support::Grace { .. } => "end of life (grace)",
            Support::EndOfLife { .. } => "end of life",
        }
    }
}

/// Every runtime of `catalog`, with where it stands `today`.
pub fn listing(catalog: &crate::RuntimeCatalog, today: Date) -> Vec<ListedRuntime<'_>> {
    catalog
        .runtimes
        .iter()
        .map(|runtime| ListedRuntime {
            runtime,
            end_of_life: end_of_life(&runtime.version).map(|d| d.to_string()),
            support: support(&runtime.version, today).label(),
        })
        .collect()
}

/// Today, in UTC.
pub fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> PythonVersion {
        PythonVersion::parse(text).unwrap()
    }

    fn day(year: i32, month: Month, day: u8) -> Date {
        Date::from_calendar_date(year, month, day).unwrap()
    }

    #[test]
    fn a_minor_is_supported_then_ending_then_in_grace_then_refused() {
        let eol = day(2026, Month::October, 31);
        assert_eq!(support(&v("3.10.13"), day(2026, Month::January, 1)), Support::Supported);
        assert_eq!(support(&v("3.10.13"), day(2026, Month::June, 1)), Support::EndsSoon { end_of_life: eol });
        assert_eq!(
            support(&v("3.10.13"), day(2026, Month::November, 26)),
            Support::Grace { end_of_life: eol, refused_from: day(2027, Month::February, 1) }
        );
        assert_eq!(support(&v("3.10.13"), day(2027, Month::February, 1)), Support::EndOfLife { end_of_life: eol });
    }

    #[test]
    fn minors_outside_the_table() {
        assert_eq!(support(&v("3.15.0"), day(2026, Month::November, 26)), Support::Supported);
        assert!(matches!(support(&v("2.6.9"), day(2026, Month::November, 26)), Support::EndOfLife { .. }));
        assert!(matches!(support(&v("2.7.18"), day(2026, Month::November, 26)), Support::EndOfLife { .. }));
    }
}
