use std::sync::LazyLock;

use maud::{DOCTYPE, Markup, html};
use sha2::{Digest, Sha256};

use crate::configuration::Branding;
use crate::domain::SourceTag;
use crate::i18n::Language;

/// A file built into the binary, so a deployment cannot lose it, and addressed by a
/// content hash so browsers may cache it for a year and still see every change.
pub struct StaticAsset {
    pub body: &'static str,
    pub version: String,
    pub content_type: &'static str,
}

impl StaticAsset {
    pub(super) fn new(body: &'static str, content_type: &'static str) -> Self {
        Self {
            body,
            version: content_version(body),
            content_type,
        }
    }

    /// The address pages link to: the file's name with its version.
    pub fn href(&self, name: &str) -> String {
        format!("/static/{name}?v={}", self.version)
    }
}

/// The first 12 hex digits of the SHA-256 of a file's content.
pub fn content_version(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..6])
}

pub static STYLESHEET: LazyLock<StaticAsset> = LazyLock::new(|| {
    StaticAsset::new(
        include_str!("../../static/style.css"),
        "text/css; charset=utf-8",
    )
});

/// Progressive enhancement of the form: live validation and sending with fetch.
pub static FORM_SCRIPT: LazyLock<StaticAsset> = LazyLock::new(|| {
    StaticAsset::new(
        include_str!("../../static/form.js"),
        "text/javascript; charset=utf-8",
    )
});

/// Inside an iframe: tells the embedding page how tall the form is.
pub static EMBED_SCRIPT: LazyLock<StaticAsset> = LazyLock::new(|| {
    StaticAsset::new(
        include_str!("../../static/embed.js"),
        "text/javascript; charset=utf-8",
    )
});

/// The page around the merchant's own pages (admin, sign-in): English, the service's colours.
pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href=(STYLESHEET.href("style.css"));
            }
            body {
                main class="page" { (body) }
            }
        }
    }
}

/// What every page a visitor sees needs besides its content.
#[derive(Clone, Copy)]
pub struct PageContext<'a> {
    pub language: Language,
    /// The visitor chose the language with `?lang=`: links and the form keep the choice.
    /// Otherwise the browser's `Accept-Language` chooses it again on every page.
    pub language_chosen: bool,
    /// The language of the merchant's own words (`FORM_TITLE`, `FORM_INTRO`,
    /// `CONSENT_TEXT`): `DEFAULT_LANGUAGE`, which a screen reader is told where it differs.
    pub merchant_language: Language,
    pub branding: &'a Branding,
    /// The version of `/static/theme.css`, the merchant's colours.
    pub theme_version: &'a str,
    /// Inside the merchant's iframe: no header or footer, and the height reported upwards.
    pub embed: bool,
    /// The origins an embedded page may send messages to (`FRAME_ANCESTORS`, with
    /// `'self'` for its own).
    pub parent_origins: &'a [String],
    /// This page's path, for the language switcher's links.
    pub path: &'static str,
    /// The rest of this page's path after `path`, for a page whose address carries a
    /// token (`/preferences/{token}`); it needs no encoding.
    pub path_tail: Option<&'a str>,
    /// Where the visitor came from (`?src=`, already checked to be a slug): the form sends
    /// it back, and the language switcher keeps it.
    pub source: Option<&'a SourceTag>,
}

impl PageContext<'_> {
    /// The message `id` in the visitor's language.
    pub fn t(&self, id: &str) -> String {
        self.language.text(id)
    }

    /// The `lang` attribute for the merchant's own words, where they are not in the
    /// page's language.
    pub fn merchant_lang(&self) -> Option<&'static str> {
        (self.merchant_language != self.language).then(|| self.merchant_language.tag())
    }

    /// Where the form is: the page's own, or the one inside the iframe.
    pub fn form_path(&self) -> &'static str {
        if self.embed { "/embed" } else { "/" }
    }

    /// A path of this service that keeps a language the visitor chose.
    pub fn localized(&self, path: &str) -> String {
        if self.language_chosen {
            format!("{path}?lang={}", self.language.tag())
        } else {
            path.to_owned()
        }
    }

    /// This page in `language`.
    fn language_link(&self, language: Language) -> String {
        let tail = self.path_tail.unwrap_or_default();
        let link = format!("{}{tail}?lang={}", self.path, language.tag());
        match self.source {
            Some(source) => format!("{link}&src={source}"),
            None => link,
        }
    }

    /// The page title, followed by the merchant's name when there is one.
    pub fn full_title(&self, title: &str) -> String {
        match &self.branding.merchant_name {
            Some(name) if !title.contains(name.as_str()) => format!("{title} – {name}"),
            _ => title.to_owned(),
        }
    }
}

/// The page around everything a visitor sees: their language, the merchant's name, logo
/// and colours, and a way to switch language.
pub fn visitor_layout(
    context: &PageContext<'_>,
    title: &str,
    scripts: bool,
    body: Markup,
) -> Markup {
    let branding = context.branding;
    html! {
        (DOCTYPE)
        html lang=(context.language.tag()) {
            head {
                (visitor_head(context, title))
                @if scripts {
                    script src=(FORM_SCRIPT.href("form.js")) defer {}
                }
                @if context.embed {
                    script src=(EMBED_SCRIPT.href("embed.js"))
                        data-parent-origins=(context.parent_origins.join(" ")) defer {}
                }
            }
            body class=[context.embed.then_some("embed")] {
                @if !context.embed && (branding.logo_url.is_some() || branding.merchant_name.is_some()) {
                    header class="brand" { (brand_mark(branding, "brand")) }
                }
                main class="page" { (body) }
                @if !context.embed {
                    footer class="page-footer" { (language_switcher(context)) }
                }
            }
        }
    }
}

/// What every visitor page's `<head>` starts with: the character set, the viewport, the
/// title with the merchant's name, the stylesheet and the merchant's colours.
pub(super) fn visitor_head(context: &PageContext<'_>, title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (context.full_title(title)) }
        link rel="stylesheet" href=(STYLESHEET.href("style.css"));
        link rel="stylesheet" href={ "/static/theme.css?v=" (context.theme_version) };
    }
}

/// The merchant's logo, or else their name, with classes `{class}-logo` and
/// `{class}-name`; nothing without either.
pub(super) fn brand_mark(branding: &Branding, class: &str) -> Markup {
    html! {
        @if let Some(logo) = &branding.logo_url {
            // The logo names the merchant; without a name it is decoration.
            img class={ (class) "-logo" } src=(logo.as_str())
                alt=(branding.merchant_name.as_deref().unwrap_or(""));
        } @else if let Some(name) = &branding.merchant_name {
            p class={ (class) "-name" } { (name) }
        }
    }
}

/// Links to this page in every language, each written in its own language.
pub(super) fn language_switcher(context: &PageContext<'_>) -> Markup {
    html! {
        nav class="languages" aria-label=(context.t("language-switcher")) {
            ul {
                @for language in Language::all() {
                    li {
                        @if language == context.language {
                            a href=(context.language_link(language))
                                lang=(language.tag()) hreflang=(language.tag())
                                aria-current="true" { (language.name()) }
                        } @else {
                            a href=(context.language_link(language))
                                lang=(language.tag()) hreflang=(language.tag()) { (language.name()) }
                        }
                    }
                }
            }
        }
    }
}
