//! The merchant's look and words, set without code: `MERCHANT_NAME`, `FORM_TITLE`,
//! `FORM_INTRO`, `LOGO_URL`, `ACCENT_COLOR`, `PRIVACY_URL` and `SUCCESS_REDIRECT_URL`.

use url::Url;

use super::reader::{Read, Reader};
use super::theme::{Color, Theme};

/// Short texts of the page's chrome: a name or a heading.
const NAME_MAX_CHARS: usize = 100;
const INTRO_MAX_CHARS: usize = 500;

/// The merchant's look and words, set without code.
#[derive(Debug, Clone, Default)]
pub struct Branding {
    /// `MERCHANT_NAME`: in the page title, the heading's alt text and the thanks page.
    pub merchant_name: Option<String>,
    /// `FORM_TITLE`: replaces the catalogue's heading in every language.
    pub form_title: Option<String>,
    /// `FORM_INTRO`: replaces the catalogue's introduction in every language.
    pub form_intro: Option<String>,
    /// `LOGO_URL`: an image shown above the form.
    pub logo_url: Option<Url>,
    /// `ACCENT_COLOR`, turned into readable colours.
    pub theme: Theme,
    /// `PRIVACY_URL`: linked under the consent box.
    pub privacy_url: Option<Url>,
    /// `SUCCESS_REDIRECT_URL`: where a visitor goes after signing up, instead of `/thanks`.
    pub success_redirect_url: Option<Url>,
}

pub(super) fn read(env: &mut Reader<'_>) -> Read<Branding> {
    let merchant_name = env.one_line("MERCHANT_NAME", NAME_MAX_CHARS);
    let form_title = env.one_line("FORM_TITLE", NAME_MAX_CHARS);
    let form_intro = env.one_line("FORM_INTRO", INTRO_MAX_CHARS);
    let logo_url = env.url("LOGO_URL");
    let accent = env.read(
        "ACCENT_COLOR",
        "a colour such as #1f6f43 or #fa0",
        Color::parse_hex,
    );
    let privacy_url = env.url("PRIVACY_URL");
    let success_redirect_url = env.url("SUCCESS_REDIRECT_URL");
    let branding = Branding {
        merchant_name: merchant_name?,
        form_title: form_title?,
        form_intro: form_intro?,
        logo_url: logo_url?,
        theme: accent?.map(Theme::from_accent).unwrap_or_default(),
        privacy_url: privacy_url?,
        success_redirect_url: success_redirect_url?,
    };
    let plain_logo = branding
        .logo_url
        .as_ref()
        .is_some_and(|url| url.scheme() == "http");
    if plain_logo && https_public_url(env) {
        env.problem(
            "LOGO_URL: expected an https address, since PUBLIC_URL is https (browsers block \
             http images on https pages)",
        );
    }
    Ok(branding)
}

/// Whether `PUBLIC_URL` is set to an https address (its problems are the server's to report).
fn https_public_url(env: &Reader<'_>) -> bool {
    env.value("PUBLIC_URL")
        .and_then(|raw| Url::parse(&raw).ok())
        .is_some_and(|url| url.scheme() == "https")
}
