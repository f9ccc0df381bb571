//! Signups stored, by where they came from (`src`, or a kiosk): the one label whose values
//! are not fixed words. A tablet's is the merchant's name for it, and there are only as
//! many as the merchant paired; but anyone can type an address with a `src` of their
//! own, so only the first [`MAX_SOURCES`] slugs seen by this process get a series each,
//! the rest are counted as `(other)`, and a scrape stays small whatever visitors try.
//! The two buckets have parentheses, which no source has.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// The most sources shown apart; a shop has a handful of posters and tablets.
pub const MAX_SOURCES: usize = 50;

/// Signups with no source (the plain address).
const NONE: &str = "(none)";
/// Any slug past the first [`MAX_SOURCES`].
const OTHER: &str = "(other)";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Clone, Default)]
pub(super) struct SourceCounts {
    stored: Family<SourceLabels, Counter>,
    named: Arc<Mutex<HashSet<String>>>,
}

impl SourceCounts {
    pub(super) fn register(&self, registry: &mut Registry) {
        drop(self.stored.get_or_create(&SourceLabels {
            source: NONE.to_owned(),
        }));
        registry.register(
            "signups_by_source",
            "Signups stored, by where they came from (src, or kiosk:<device>); (none) for \
             the plain address, (other) past the first 50 src values",
            self.stored.clone(),
        );
    }

    pub(super) fn stored(&self, source: Option<&str>) {
        let label = match source {
            None => NONE.to_owned(),
            Some(source) => {
                let mut named = self.named.lock().unwrap_or_else(|p| p.into_inner());
                let tablet = source.starts_with("kiosk:");
                if tablet || named.contains(source) || named.len() < MAX_SOURCES {
                    if !tablet {
                        named.insert(source.to_owned());
                    }
                    source.to_owned()
                } else {
                    OTHER.to_owned()
                }
            }
        };
        self.stored
            .get_or_create(&SourceLabels { source: label })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(counts: &SourceCounts) -> Vec<(String, u64)> {
        let mut registry = Registry::default();
        counts.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let mut found: Vec<(String, u64)> = text
            .lines()
            .filter(|line| line.starts_with("signups_by_source_total{"))
            .map(|line| {
                let source = line.split('"').nth(1).unwrap().to_owned();
                let value = line.rsplit(' ').next().unwrap().parse().unwrap();
                (source, value)
            })
            .collect();
        found.sort();
        found
    }

    #[test]
    fn past_the_first_sources_slugs_are_counted_together_and_tablets_never_are() {
        let counts = SourceCounts::default();
        for n in 0..MAX_SOURCES + 10 {
            counts.stored(Some(&format!("junk-{n}")));
        }
        counts.stored(Some("counter"));
        counts.stored(Some("junk-0"));
        counts.stored(Some("kiosk:Front counter"));
        counts.stored(None);
        let found = counted(&counts);
        let value = |name: &str| found.iter().find(|(s, _)| s == name).map(|(_, v)| *v);
        assert_eq!(found.len(), MAX_SOURCES + 3, "{found:?}");
        assert_eq!(value("junk-0"), Some(2), "a source named stays named");
        assert_eq!(value("(other)"), Some(11));
        assert_eq!(value("counter"), None);
        assert_eq!(value("kiosk:Front counter"), Some(1));
        assert_eq!(value("(none)"), Some(1));
    }
}
