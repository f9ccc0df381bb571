//! Signups stored, by where they came from (`src`, or a kiosk): the one label whose values
//! are not fixed words. They are the merchant's names for their posters and tablets, but
//! anyone can type an address with a `src` of their own, so only the first
//! [`MAX_SOURCES`] seen by this process get a series each; the rest are counted as
//! `other`, and a scrape stays small whatever visitors try.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// The most sources shown apart; a shop has a handful of posters and tablets.
pub const MAX_SOURCES: usize = 50;

/// Signups with no source (the plain address).
const NONE: &str = "none";
/// Any source past the first [`MAX_SOURCES`].
const OTHER: &str = "other";

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
            "Signups stored, by where they came from (src, or kiosk:<device>); none for \
             the plain address, other past the first 50 sources",
            self.stored.clone(),
        );
    }

    pub(super) fn stored(&self, source: Option<&str>) {
        let label = match source {
            None => NONE.to_owned(),
            Some(source) => {
                let mut named = self.named.lock().unwrap_or_else(|p| p.into_inner());
                if named.contains(source) || named.len() < MAX_SOURCES {
                    named.insert(source.to_owned());
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
