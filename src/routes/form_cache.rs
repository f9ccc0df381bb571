//! The empty form, rendered once per language and presentation. Every visitor gets the
//! same page but for three hidden values, the signed token, the form's id and where the
//! visitor came from (`?src=`, also kept in the language links), so the page is kept as
//! text with holes and only those are filled per request. Rendering the
//! whole template (dozens of catalogue look-ups and escapes) was most of a `GET /`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::domain::SourceTag;

/// A placeholder for the token: letters only, so escaping leaves it as it is, and long
/// and odd enough never to be part of a real page.
const TOKEN_HOLE: &str = "zzFORMTOKENHOLEzzQv7Kp2";
/// A placeholder for the form's id; a valid `IdempotencyKey` itself, as the template
/// requires.
const FORM_ID_HOLE: &str = "zzFORMIDHOLEzzQv7Kp2";
/// A placeholder for the source, a valid slug itself.
const SOURCE_HOLE: &str = "zzsourceholezzqv7kp2";
/// The source in a link's query, as the template escapes it: left out when there is none.
const SOURCE_QUERY_HOLE: &str = "&amp;src=zzsourceholezzqv7kp2";

/// Which rendering: the language's index, embedded or not, language chosen by `?lang=`.
pub type FormKey = (usize, bool, bool);

enum Piece {
    Text(String),
    Token,
    FormId,
    Source,
    SourceQuery,
}

/// One rendering, with its holes.
pub struct CachedForm {
    pieces: Vec<Piece>,
    /// The birthday's latest allowed year is in the page: a new year renders it again.
    year: u16,
    length: usize,
}

impl CachedForm {
    /// Renders through `render`, which must put `TOKEN_HOLE`, `FORM_ID_HOLE` and
    /// `SOURCE_HOLE` where the token, the id and the source go.
    fn new(year: u16, render: impl FnOnce(&str, &str, &SourceTag) -> String) -> Self {
        let hole = SourceTag::slug(SOURCE_HOLE).expect("the hole is a slug");
        let page = render(TOKEN_HOLE, FORM_ID_HOLE, &hole);
        debug_assert_eq!(page.matches(TOKEN_HOLE).count(), 1, "one token per form");
        debug_assert_eq!(
            page.matches(FORM_ID_HOLE).count(),
            1,
            "one form id per form"
        );
        let mut pieces = Vec::new();
        let mut rest = page.as_str();
        loop {
            // The query hole holds the value hole: at the same text it starts first.
            let next = [
                (TOKEN_HOLE, Piece::Token),
                (FORM_ID_HOLE, Piece::FormId),
                (SOURCE_QUERY_HOLE, Piece::SourceQuery),
                (SOURCE_HOLE, Piece::Source),
            ]
            .into_iter()
            .filter_map(|(hole, piece)| rest.find(hole).map(|at| (at, hole, piece)))
            .min_by_key(|(at, _, _)| *at);
            match next {
                Some((at, hole, piece)) => {
                    pieces.push(Piece::Text(rest[..at].to_owned()));
                    pieces.push(piece);
                    rest = &rest[at + hole.len()..];
                }
                None => {
                    pieces.push(Piece::Text(rest.to_owned()));
                    break;
                }
            }
        }
        Self {
            pieces,
            year,
            length: page.len(),
        }
    }

    /// The page with this request's token, id and source (a slug, which needs no
    /// escaping).
    pub fn fill(&self, token: &str, form_id: &str, source: Option<&SourceTag>) -> String {
        let source = source.map(SourceTag::as_str);
        let mut page = String::with_capacity(self.length + token.len() + form_id.len());
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => page.push_str(text),
                Piece::Token => page.push_str(token),
                Piece::FormId => page.push_str(form_id),
                Piece::Source => page.push_str(source.unwrap_or_default()),
                Piece::SourceQuery => {
                    if let Some(source) = source {
                        page.push_str("&amp;src=");
                        page.push_str(source);
                    }
                }
            }
        }
        page
    }
}

/// Every rendering made so far; a handful at most (languages × 2 × 2).
#[derive(Default)]
pub struct FormCache {
    pages: RwLock<HashMap<FormKey, Arc<CachedForm>>>,
}

impl FormCache {
    /// The rendering for `key`, made by `render` the first time (and again each new year).
    pub fn get(
        &self,
        key: FormKey,
        year: u16,
        render: impl FnOnce(&str, &str, &SourceTag) -> String,
    ) -> Arc<CachedForm> {
        let cached = self
            .pages
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .filter(|page| page.year == year)
            .cloned();
        cached.unwrap_or_else(|| {
            let page = Arc::new(CachedForm::new(year, render));
            self.pages
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key, Arc::clone(&page));
            page
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holes_are_filled_wherever_they_are() {
        let cache = FormCache::default();
        let page = cache.get((0, false, false), 2026, |token, id, source| {
            format!("<a>{id}</a><b>{token}</b><i value=\"{source}\"><a href=\"?lang=fr&amp;src={source}\">")
        });
        let counter = SourceTag::slug("counter").unwrap();
        assert_eq!(
            page.fill("T1", "ID1", None),
            "<a>ID1</a><b>T1</b><i value=\"\"><a href=\"?lang=fr\">"
        );
        assert_eq!(
            page.fill("T2", "ID2", Some(&counter)),
            "<a>ID2</a><b>T2</b><i value=\"counter\"><a href=\"?lang=fr&amp;src=counter\">"
        );
    }

    #[test]
    fn a_page_is_rendered_once_per_key_and_again_in_a_new_year() {
        let cache = FormCache::default();
        let mut renders = 0;
        for year in [2026, 2026, 2027] {
            cache.get((1, true, false), year, |token, id, _| {
                renders += 1;
                format!("{token}{id}")
            });
        }
        assert_eq!(renders, 2);
    }

    #[test]
    fn the_form_id_hole_is_a_valid_idempotency_key() {
        assert!(crate::domain::IdempotencyKey::parse(FORM_ID_HOLE).is_some());
        assert!(SourceTag::slug(SOURCE_HOLE).is_some());
    }
}
