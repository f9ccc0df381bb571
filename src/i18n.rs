//! The visitor's language: message catalogues in Fluent (one `locales/<tag>.ftl` file per
//! language, compiled in by `build.rs`) and the choice among them from `?lang=` or the
//! browser's `Accept-Language`.
//!
//! English is the reference catalogue: a message another catalogue lacks is taken from it,
//! and a unit test keeps every catalogue complete.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

include!(concat!(env!("OUT_DIR"), "/catalogues.rs"));

/// The catalogue every other falls back to.
const REFERENCE: &str = "en";

struct Catalogue {
    tag: &'static str,
    name: String,
    bundle: FluentBundle<FluentResource>,
}

struct Catalogues {
    all: Vec<Catalogue>,
    reference: usize,
}

static CATALOGUES: LazyLock<Catalogues> = LazyLock::new(|| {
    let all: Vec<Catalogue> = CATALOGUE_FILES
        .iter()
        .map(|(tag, source)| load(tag, source))
        .collect();
    let reference = all
        .iter()
        .position(|c| c.tag == REFERENCE)
        .expect("locales/en.ftl exists");
    Catalogues { all, reference }
});

/// Parses one catalogue. The files are part of the source, so a syntax error is a bug
/// caught by the unit tests, never a visitor's problem.
fn load(tag: &'static str, source: &str) -> Catalogue {
    let resource = FluentResource::try_new(source.to_owned())
        .unwrap_or_else(|(_, errors)| panic!("locales/{tag}.ftl does not parse: {errors:?}"));
    let id: LanguageIdentifier = tag
        .parse()
        .unwrap_or_else(|_| panic!("locales/{tag}.ftl is not named by a language tag"));
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // Unicode isolation marks only matter when right-to-left and left-to-right text mix;
    // they would otherwise end up in Clover notes and page titles.
    bundle.set_use_isolating(false);
    bundle
        .add_resource(resource)
        .unwrap_or_else(|errors| panic!("locales/{tag}.ftl repeats messages: {errors:?}"));
    let mut catalogue = Catalogue {
        tag,
        name: tag.to_owned(),
        bundle,
    };
    if let Some(name) = format(&catalogue, "language-name", None) {
        catalogue.name = name.into_owned();
    }
    catalogue
}

fn format<'a>(
    catalogue: &'a Catalogue,
    id: &str,
    args: Option<&'a FluentArgs<'_>>,
) -> Option<Cow<'a, str>> {
    let pattern = catalogue.bundle.get_message(id)?.value()?;
    let mut errors = Vec::new();
    Some(catalogue.bundle.format_pattern(pattern, args, &mut errors))
}

/// One of the languages the service speaks. Cheap to copy; every page is rendered in one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Language(usize);

impl Language {
    /// English, the language every message exists in.
    pub fn reference() -> Self {
        Self(CATALOGUES.reference)
    }

    /// Every language with a catalogue, in the order of their tags.
    pub fn all() -> impl Iterator<Item = Language> {
        (0..CATALOGUES.all.len()).map(Language)
    }

    /// The language named by a tag such as `es` or `fr-CA` (which falls back to `fr`).
    pub fn from_tag(tag: &str) -> Option<Self> {
        let wanted: LanguageIdentifier = tag.trim().parse().ok()?;
        let primary = wanted.language.as_str();
        let catalogues = &CATALOGUES.all;
        catalogues
            .iter()
            .position(|c| c.tag.eq_ignore_ascii_case(tag.trim()))
            .or_else(|| catalogues.iter().position(|c| c.tag == primary))
            .map(Language)
    }

    /// The language for a request: `?lang=` when it names one we have, else the first of
    /// the browser's preferences (by quality) that we have, else `default`.
    pub fn negotiate(query: Option<&str>, accept_language: Option<&str>, default: Self) -> Self {
        if let Some(language) = query.and_then(Self::from_tag) {
            return language;
        }
        accept_language
            .map(preferences)
            .unwrap_or_default()
            .into_iter()
            .find_map(Self::from_tag)
            .unwrap_or(default)
    }

    /// A number for this language, from 0, for tables indexed by language.
    pub fn index(self) -> usize {
        self.0
    }

    /// The tag, as used in `lang` attributes and `?lang=`.
    pub fn tag(self) -> &'static str {
        self.catalogue().tag
    }

    /// The language's name in itself (`Español`), for the language switcher.
    pub fn name(self) -> &'static str {
        &CATALOGUES.all[self.0].name
    }

    fn catalogue(self) -> &'static Catalogue {
        &CATALOGUES.all[self.0]
    }

    /// The message `id` in this language.
    pub fn text(self, id: &str) -> String {
        self.format(id, None)
    }

    /// The message `id` with its variables.
    pub fn text_with(self, id: &str, args: &[(&str, Arg<'_>)]) -> String {
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            let value = match value {
                Arg::Text(text) => FluentValue::from(*text),
                Arg::Number(number) => FluentValue::from(*number),
            };
            fluent_args.set(*name, value);
        }
        self.format(id, Some(&fluent_args))
    }

    fn format(self, id: &str, args: Option<&FluentArgs<'_>>) -> String {
        format(self.catalogue(), id, args)
            .or_else(|| format(Language::reference().catalogue(), id, args))
            .map(Cow::into_owned)
            .unwrap_or_else(|| {
                // A missing message is a bug the catalogue tests catch; show its id rather
                // than nothing.
                tracing::error!(id, "a message is missing from the catalogues");
                id.to_owned()
            })
    }
}

impl fmt::Debug for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// A value for a message variable.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Text(&'a str),
    Number(i64),
}

impl Arg<'_> {
    /// A count or a limit (characters, digits, seconds) as a message variable.
    pub fn count(n: impl TryInto<i64>) -> Self {
        Arg::Number(n.try_into().unwrap_or(i64::MAX))
    }
}

/// The language ranges of an `Accept-Language` header, most preferred first (RFC 9110
/// §12.5.4). Ranges with `q=0` are refused by the visitor and dropped.
fn preferences(header: &str) -> Vec<&str> {
    let mut ranked: Vec<(u16, usize, &str)> = header
        .split(',')
        .enumerate()
        .filter_map(|(position, item)| {
            let mut parts = item.split(';');
            let range = parts.next()?.trim();
            let quality = parts
                .filter_map(|p| {
                    let p = p.trim();
                    p.strip_prefix("q=").or_else(|| p.strip_prefix("Q="))
                })
                .next()
                .map(parse_quality)
                .unwrap_or(Some(1000))?;
            (quality > 0 && !range.is_empty() && range != "*").then_some((quality, position, range))
        })
        .collect();
    // Highest quality first; among equals, the order the browser sent.
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.into_iter().map(|(_, _, range)| range).collect()
}

/// A quality value (`0.8`) in thousandths, or `None` when it is not one.
fn parse_quality(text: &str) -> Option<u16> {
    let value: f32 = text.trim().parse().ok()?;
    (0.0..=1.0)
        .contains(&value)
        .then(|| (value * 1000.0).round() as u16)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use fluent_bundle::FluentResource;
    use fluent_syntax::ast;

    use super::*;

    fn message_ids(source: &str) -> BTreeSet<String> {
        let resource = FluentResource::try_new(source.to_owned()).expect("parses");
        resource
            .entries()
            .filter_map(|entry| match entry {
                ast::Entry::Message(message) => Some(message.id.name.to_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_catalogue_parses_and_has_every_message_of_the_reference() {
        let reference = CATALOGUE_FILES
            .iter()
            .find(|(tag, _)| *tag == REFERENCE)
            .map(|(_, source)| message_ids(source))
            .expect("an English catalogue");
        for (tag, source) in CATALOGUE_FILES {
            let ids = message_ids(source);
            let missing: Vec<_> = reference.difference(&ids).collect();
            let unknown: Vec<_> = ids.difference(&reference).collect();
            assert!(missing.is_empty(), "locales/{tag}.ftl lacks {missing:?}");
            assert!(
                unknown.is_empty(),
                "locales/{tag}.ftl has unknown {unknown:?}"
            );
        }
    }

    #[test]
    fn english_spanish_and_french_are_spoken() {
        for tag in ["en", "es", "fr"] {
            assert_eq!(Language::from_tag(tag).map(Language::tag), Some(tag));
        }
        assert_eq!(Language::from_tag("fr-CA").map(Language::tag), Some("fr"));
        assert_eq!(Language::from_tag("ES").map(Language::tag), Some("es"));
        assert!(Language::from_tag("xx").is_none());
        assert!(Language::from_tag("not a tag").is_none());
    }

    #[test]
    fn the_query_wins_over_the_header_which_wins_over_the_default() {
        let en = Language::reference();
        let es = Language::from_tag("es").unwrap();
        let fr = Language::from_tag("fr").unwrap();
        assert_eq!(Language::negotiate(Some("fr"), Some("es"), en), fr);
        assert_eq!(
            Language::negotiate(Some("zz"), Some("es-MX,en;q=0.5"), en),
            es
        );
        assert_eq!(Language::negotiate(None, Some("de-DE, fr;q=0.7"), en), fr);
        assert_eq!(Language::negotiate(None, Some("de"), es), es);
        assert_eq!(Language::negotiate(None, None, fr), fr);
    }

    #[test]
    fn quality_values_order_the_preferences_and_zero_refuses() {
        assert_eq!(
            preferences("en;q=0.3, fr-CA, es;q=0.8, de;q=0"),
            ["fr-CA", "es", "en"]
        );
        assert_eq!(preferences("*, es"), ["es"]);
        assert_eq!(preferences("es;q=banana, fr"), ["fr"]);
    }

    #[test]
    fn messages_take_their_variables() {
        let en = Language::reference();
        assert_eq!(
            en.text_with(
                "error-phone-digits",
                &[("min", Arg::Number(7)), ("max", Arg::Number(15))]
            ),
            "A phone number has 7 to 15 digits."
        );
        assert_eq!(
            en.text_with("error-required", &[("input", Arg::Text("city"))]),
            "Enter your town or city."
        );
        assert_eq!(Language::from_tag("es").unwrap().name(), "Español");
    }
}
