//! Reading variables while gathering every problem, so that a bad configuration stops
//! start-up once, with all that is wrong, instead of once per mistake.

use std::fmt;
use std::str::FromStr;

use secrecy::SecretString;
use url::Url;

/// A variable was set but is unusable; the reason is already among the [`Reader`]'s
/// problems. An area that meets one still reads its other variables, so that their
/// problems are reported too.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reported;

/// A setting, or the news that a problem with it was recorded.
pub(super) type Read<T> = Result<T, Reported>;

/// Reads variables and gathers every problem. A method returns `Ok(None)` when its variable
/// is not set, and `Err(Reported)` when it is set but unusable.
pub(super) struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            lookup,
            problems: Vec::new(),
        }
    }

    /// Records a problem; the text names the variable and what it expects.
    pub(super) fn problem(&mut self, text: impl Into<String>) -> Reported {
        self.problems.push(text.into());
        Reported
    }

    /// The trimmed value, treating an empty value as unset (as `.env` files often leave them).
    pub(super) fn value(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A secret's value. No reader of a secret echoes it in a problem.
    pub(super) fn secret(&self, name: &str) -> Option<SecretString> {
        self.value(name).map(SecretString::from)
    }

    /// The value turned into a `T` by `parse`; when that fails, the problem quotes the value
    /// and says what was `expected`. Never used for secrets, whose values are not echoed.
    pub(super) fn read<T>(
        &mut self,
        name: &str,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Read<Option<T>> {
        let Some(raw) = self.value(name) else {
            return Ok(None);
        };
        match parse(&raw) {
            Some(value) => Ok(Some(value)),
            None => Err(self.problem(format!("{name}: expected {expected}, got {raw:?}"))),
        }
    }

    pub(super) fn parsed<T: FromStr>(&mut self, name: &str, expected: &str) -> Read<Option<T>> {
        self.read(name, expected, |raw| raw.parse().ok())
    }

    /// An absolute `http` or `https` address.
    pub(super) fn url(&mut self, name: &str) -> Read<Option<Url>> {
        self.read(name, "an http(s) URL", |raw| {
            Url::parse(raw)
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
        })
    }

    /// One line of text for the page, at most `max` characters.
    pub(super) fn one_line(&mut self, name: &str, max: usize) -> Read<Option<String>> {
        let Some(text) = self.value(name) else {
            return Ok(None);
        };
        if text.chars().count() > max || text.chars().any(char::is_control) {
            return Err(self.problem(format!(
                "{name}: expected one line of at most {max} characters"
            )));
        }
        Ok(Some(text))
    }

    /// The settings read, if no problem was recorded; else every problem.
    pub(super) fn finish<T>(self, settings: Read<T>) -> Result<T, ConfigError> {
        match settings {
            Ok(settings) if self.problems.is_empty() => Ok(settings),
            _ => Err(ConfigError {
                problems: self.problems,
            }),
        }
    }
}

/// Everything wrong with the configuration, reported at once.
#[derive(Debug)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        let noun = if count == 1 { "problem" } else { "problems" };
        writeln!(f, "the configuration has {count} {noun}:")?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
