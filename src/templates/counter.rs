//! The counter's printed side: the admin's QR page, and the poster it opens, in the
//! visitor's language with the merchant's look, one page of A4 or US Letter when printed.

use maud::{DOCTYPE, Markup, html};

use super::layout::{PageContext, brand_mark, layout, visitor_head};
use crate::i18n::Language;

/// What the QR page shows: the merchant's choice and the address it makes.
pub struct QrView<'a> {
    /// The source as typed, shown back when it was not one.
    pub typed_source: &'a str,
    pub source: Option<&'a str>,
    pub language: Option<Language>,
    pub address: &'a str,
    /// What is wrong with the choice, naming the field.
    pub problem: Option<&'static str>,
}

impl QrView<'_> {
    /// The query that makes the same address, for the image and poster links.
    fn query(&self) -> String {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        if let Some(source) = self.source {
            pairs.append_pair("src", source);
        }
        if let Some(language) = self.language {
            pairs.append_pair("lang", language.tag());
        }
        pairs.finish()
    }

    /// `path` with this view's source and language, and `extra` after them.
    fn link(&self, path: &str, extra: &str) -> String {
        let query = self.query();
        let joined = [query.as_str(), extra]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("&");
        if joined.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{joined}")
        }
    }

    fn file_name(&self, extension: &str) -> String {
        format!("signup-{}.{extension}", self.source.unwrap_or("form"))
    }
}

pub fn qr_page(view: &QrView<'_>) -> Markup {
    layout(
        "QR codes and posters",
        html! {
            div class="card card-wide" {
                h1 { "QR codes and posters" }
                p { a href="/admin" { "Back to the dashboard" } }
                p { "A QR code opens the signup form on the visitor's phone. Give each place its own source (the counter, a table card, a flyer): the dashboard, the digest and each customer's note in Clover then say where every signup came from." }
                @if let Some(problem) = view.problem {
                    div class="error-summary" role="alert" tabindex="-1" autofocus {
                        p { a href="#qr_source" { (problem) } }
                    }
                }
                (qr_choice(view))
                @if view.problem.is_none() { (qr_downloads(view)) }
            }
        },
    )
}

/// The source and language the code's address carries.
fn qr_choice(view: &QrView<'_>) -> Markup {
    html! {
        form method="get" action="/admin/qr" class="inline-form" {
            div class="field" {
                label for="qr_source" { "Source" }
                p class="hint" id="qr_source_hint" { "Lowercase letters, digits and dashes, up to 32; empty for none." }
                input type="text" id="qr_source" name="src" value=(view.typed_source)
                    maxlength="32" autocomplete="off" aria-describedby="qr_source_hint"
                    aria-invalid=[view.problem.map(|_| "true")];
            }
            div class="field" {
                label for="qr_language" { "Language" }
                select id="qr_language" name="lang" {
                    option value="" selected[view.language.is_none()] { "The visitor's own (from their phone)" }
                    @for language in Language::all() {
                        option value=(language.tag()) selected[view.language == Some(language)] { (language.name()) }
                    }
                }
            }
            button type="submit" class="button" { "Show" }
        }
    }
}

fn qr_downloads(view: &QrView<'_>) -> Markup {
    html! {
        h2 { "The code" }
        p { "It opens " code { (view.address) } }
        img class="qr-preview" src=(view.link("/admin/qr.svg", "")) width="240" height="240"
            alt={ "QR code of " (view.address) };
        ul class="actions" {
            li { a href=(view.link("/admin/qr.svg", "")) download=(view.file_name("svg")) { "Download SVG" } " (for print, any size)" }
            li { a href=(view.link("/admin/qr.png", "")) download=(view.file_name("png")) { "Download PNG" } }
        }
        h2 { "Printable poster" }
        p { "Your logo, name and colour, an invitation, the code, the address written out for people who cannot scan, and the consent text in full. Print it with Ctrl+P (Cmd+P on a Mac): it fills one page." }
        ul class="actions" {
            li { a href=(view.link("/admin/qr/poster", "paper=a4")) { "Poster, A4" } }
            li { a href=(view.link("/admin/qr/poster", "paper=letter")) { "Poster, US Letter" } }
        }
    }
}

/// The sheet the poster is printed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    A4,
    Letter,
}

impl Paper {
    /// The class that gives the page its size when printed (`style.css`, named pages).
    fn class(self) -> &'static str {
        match self {
            Paper::A4 => "poster poster-a4",
            Paper::Letter => "poster poster-letter",
        }
    }
}

pub struct PosterView<'a> {
    pub context: PageContext<'a>,
    /// The code, drawn as SVG.
    pub qr_svg: Markup,
    /// The address without `https://`, for people who cannot scan.
    pub typed_address: String,
    /// The words the form's box asks agreement to, in full.
    pub consent: Wording,
    /// The text messages' box, when the form has one.
    pub sms_consent: Option<Wording>,
    pub paper: Paper,
}

/// A consent's words on the poster.
pub struct Wording {
    pub text: String,
    /// Written by the merchant (in `DEFAULT_LANGUAGE`), not the catalogue's.
    pub merchants: bool,
}

pub fn poster_page(view: &PosterView<'_>) -> Markup {
    let context = &view.context;
    let branding = context.branding;
    let title = context.t("poster-invitation");
    html! {
        (DOCTYPE)
        html lang=(context.language.tag()) {
            head {
                (visitor_head(context, &title))
            }
            body class=(view.paper.class()) {
                main class="poster-sheet" {
                    (brand_mark(branding, "poster"))
                    h1 class="poster-title" { (title) }
                    div class="poster-code" { (view.qr_svg) }
                    p class="poster-scan" { (context.t("poster-scan")) }
                    p class="poster-type" { (context.t("poster-type")) br; strong class="poster-address" { (view.typed_address) } }
                    section class="poster-consent" {
                        h2 { (context.t("poster-consent-heading")) }
                        @for wording in std::iter::once(&view.consent).chain(&view.sms_consent) {
                            p lang=[wording.merchants.then(|| context.merchant_lang()).flatten()] { (wording.text) }
                        }
                        @if let Some(privacy) = &branding.privacy_url {
                            p { (context.t("privacy-link")) ": " (privacy.as_str()) }
                        }
                    }
                }
            }
        }
    }
}
