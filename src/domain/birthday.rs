use serde::{Deserialize, Serialize};

use super::FieldError;

/// A birthday as Clover keeps it (`metadata.dobMonth`, `dobDay`, optional `dobYear`): a day
/// that exists in its month, and a year, when given, from 1900 to this year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Birthday {
    pub day: u8,
    pub month: u8,
    pub year: Option<u16>,
}

impl Birthday {
    pub const EARLIEST_YEAR: u16 = 1900;

    /// The latest year a birthday may have: this one.
    pub fn latest_year() -> u16 {
        u16::try_from(time::OffsetDateTime::now_utc().year()).unwrap_or(u16::MAX)
    }

    /// Parses the three boxes of the form. All blank is `Ok(None)`: whether that is allowed
    /// is the form's rule, not the birthday's.
    pub fn parse(
        day: &str,
        month: &str,
        year: &str,
        this_year: u16,
    ) -> Result<Option<Self>, FieldError> {
        let (day, month, year) = (day.trim(), month.trim(), year.trim());
        if day.is_empty() && month.is_empty() && year.is_empty() {
            return Ok(None);
        }
        if day.is_empty() || month.is_empty() {
            return Err(FieldError::Required);
        }
        let number = |text: &str| -> Result<u16, FieldError> {
            if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(FieldError::BirthdayNumbers);
            }
            text.parse().map_err(|_| FieldError::BirthdayNumbers)
        };
        let (day, month) = (number(day)?, number(month)?);
        let year = if year.is_empty() {
            None
        } else {
            let value = number(year)?;
            if year.len() != 4 || !(Self::EARLIEST_YEAR..=this_year).contains(&value) {
                return Err(FieldError::BirthdayYear {
                    min: Self::EARLIEST_YEAR,
                    max: this_year,
                });
            }
            Some(value)
        };
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(month, year) {
            return Err(FieldError::BirthdayDate);
        }
        Ok(Some(Self {
            day: day as u8,
            month: month as u8,
            year,
        }))
    }
}

/// Without a year, 29 February is allowed: some birthdays are on it.
fn days_in_month(month: u16, year: Option<u16>) -> u16 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 => match year {
            Some(year) if !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) => 28,
            _ => 29,
        },
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(day: &str, month: &str, year: &str) -> Result<Option<Birthday>, FieldError> {
        Birthday::parse(day, month, year, 2026)
    }

    #[test]
    fn day_and_month_are_enough() {
        assert_eq!(
            parse(" 7 ", "03", ""),
            Ok(Some(Birthday {
                day: 7,
                month: 3,
                year: None
            }))
        );
        assert_eq!(parse("", "", ""), Ok(None));
    }

    #[test]
    fn a_year_needs_four_digits_within_range() {
        assert_eq!(parse("7", "3", "1990").unwrap().unwrap().year, Some(1990));
        let out_of_range = Err(FieldError::BirthdayYear {
            min: 1900,
            max: 2026,
        });
        assert_eq!(parse("7", "3", "90"), out_of_range);
        assert_eq!(parse("7", "3", "1899"), out_of_range);
        assert_eq!(parse("7", "3", "2027"), out_of_range);
    }

    #[test]
    fn the_day_must_exist_in_the_month() {
        assert_eq!(parse("31", "4", ""), Err(FieldError::BirthdayDate));
        assert_eq!(parse("0", "4", ""), Err(FieldError::BirthdayDate));
        assert_eq!(parse("1", "13", ""), Err(FieldError::BirthdayDate));
        assert!(parse("29", "2", "").is_ok());
        assert!(parse("29", "2", "2000").is_ok());
        assert_eq!(parse("29", "2", "1900"), Err(FieldError::BirthdayDate));
        assert_eq!(parse("29", "2", "2023"), Err(FieldError::BirthdayDate));
    }

    #[test]
    fn a_year_alone_or_words_are_refused() {
        assert_eq!(parse("", "", "1990"), Err(FieldError::Required));
        assert_eq!(parse("7", "", ""), Err(FieldError::Required));
        assert_eq!(parse("seven", "3", ""), Err(FieldError::BirthdayNumbers));
        assert_eq!(parse("7", "-3", ""), Err(FieldError::BirthdayNumbers));
    }
}
