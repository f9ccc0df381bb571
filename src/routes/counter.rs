//! `/admin/qr`: the form's address with a source, as a QR code (SVG, PNG) and as a
//! printable poster in the visitor's language with the merchant's look.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;
use url::Url;

use super::{AppState, html, page_context};
use crate::consent::sms_wording;
use crate::domain::{Field, SourceTag};
use crate::i18n::Language;
use crate::qr::QrImage;
use crate::templates::{Paper, PosterView, QrView, Wording, poster_page, qr_page};

/// Pixels a module in the PNG: about 400 pixels across for a short address, enough to
/// print it 3 cm wide at 300 dpi; for larger prints, the SVG scales without limit.
const PNG_SCALE: usize = 10;

#[derive(Deserialize, Default)]
pub struct QrQuery {
    #[serde(default)]
    src: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    paper: Option<String>,
}

/// What the merchant chose: a source (or none) and a language (or the visitor's own).
pub(super) struct Choice {
    pub source: Option<SourceTag>,
    pub language: Option<Language>,
}

impl QrQuery {
    /// The choice, or the words of what is wrong with the source typed.
    fn choice(&self) -> Result<Choice, &'static str> {
        let source = match self.src.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(SourceTag::slug(text).ok_or(
                "Source: use 1 to 32 lowercase letters (a to z), digits and dashes, such as counter or spring-sale.",
            )?),
        };
        let language = self.lang.as_deref().and_then(Language::from_tag);
        Ok(Choice { source, language })
    }
}

/// The form's address for a choice: `PUBLIC_URL` with `src` and `lang`.
pub(super) fn form_address(public_url: &Url, choice: &Choice) -> Url {
    let mut address = public_url.clone();
    address.set_fragment(None);
    {
        let mut query = address.query_pairs_mut();
        query.clear();
        if let Some(source) = &choice.source {
            query.append_pair("src", source.as_str());
        }
        if let Some(language) = choice.language {
            query.append_pair("lang", language.tag());
        }
    }
    if address.query() == Some("") {
        address.set_query(None);
    }
    address
}

/// The address as people type it: without `https://`.
fn typed_address(address: &Url) -> String {
    let text = address.as_str();
    text.split_once("://")
        .map_or(text, |(_, rest)| rest)
        .to_owned()
}

pub async fn page(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<QrQuery>,
) -> HttpResponse {
    if let Some(refusal) = state.admin.refusal(&request) {
        return refusal.error_response();
    }
    let (status, choice, problem) = match query.choice() {
        Ok(choice) => (StatusCode::OK, choice, None),
        Err(problem) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Choice {
                source: None,
                language: None,
            },
            Some(problem),
        ),
    };
    let address = form_address(&state.info.public_url, &choice);
    let view = QrView {
        typed_source: query.src.as_deref().unwrap_or_default(),
        source: choice.source.as_ref().map(SourceTag::as_str),
        language: choice.language,
        address: address.as_str(),
        problem,
    };
    html(status, qr_page(&view))
}

/// The choice in `query`, the address it makes and its code; else why not (a `422`).
fn code_of(state: &AppState, query: &QrQuery) -> Result<(Choice, Url, QrImage), &'static str> {
    let choice = query.choice()?;
    let address = form_address(&state.info.public_url, &choice);
    let code = QrImage::of(address.as_str()).map_err(|_| "PUBLIC_URL is too long for a QR code")?;
    Ok((choice, address, code))
}

/// The QR code alone, as SVG or PNG.
pub async fn image(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<QrQuery>,
    format: web::Path<String>,
) -> HttpResponse {
    if let Some(refusal) = state.admin.refusal(&request) {
        return refusal.error_response();
    }
    let (_, address, code) = match code_of(&state, &query) {
        Ok(made) => made,
        Err(why) => return HttpResponse::UnprocessableEntity().body(why),
    };
    let (content_type, body) = match format.as_str() {
        "svg" => (
            "image/svg+xml",
            code.svg(&format!("QR code of {address}"))
                .into_string()
                .into_bytes(),
        ),
        "png" => ("image/png", code.png(PNG_SCALE)),
        _ => return HttpResponse::NotFound().finish(),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
        .body(body)
}

/// The printable poster, in the chosen language (or `DEFAULT_LANGUAGE`).
pub async fn poster(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<QrQuery>,
) -> HttpResponse {
    if let Some(refusal) = state.admin.refusal(&request) {
        return refusal.error_response();
    }
    let (choice, address, code) = match code_of(&state, &query) {
        Ok(made) => made,
        Err(why) => return HttpResponse::UnprocessableEntity().body(why),
    };
    let mut context = page_context(&state, &request, false, "/admin/qr/poster");
    context.language = choice.language.unwrap_or(state.form.default_language);
    let paper = match query.paper.as_deref() {
        Some("letter") => Paper::Letter,
        _ => Paper::A4,
    };
    let form = &state.form;
    let consent = Wording {
        text: (form.consent_text.clone()).unwrap_or_else(|| context.t("consent-default")),
        merchants: form.consent_text.is_some(),
    };
    // The text messages' box, when the form has it, with its own words.
    let sms_consent = form
        .rules
        .fields
        .contains(&Field::SmsConsent)
        .then(|| Wording {
            text: sms_wording(
                form.sms_consent_text.as_deref(),
                context.language,
                form.branding.merchant_name.as_deref(),
            ),
            merchants: form.sms_consent_text.is_some(),
        });
    let view = PosterView {
        context,
        qr_svg: code.svg(&context.t("poster-scan")),
        typed_address: typed_address(&address),
        consent,
        sms_consent,
        paper,
    };
    html(StatusCode::OK, poster_page(&view))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_carries_the_source_and_the_language_chosen() {
        let public = Url::parse("https://signup.shop.example/").unwrap();
        let choice = |source: Option<&str>, language: Option<&str>| Choice {
            source: source.and_then(SourceTag::slug),
            language: language.and_then(Language::from_tag),
        };
        assert_eq!(
            form_address(&public, &choice(None, None)).as_str(),
            "https://signup.shop.example/"
        );
        let both = form_address(&public, &choice(Some("counter"), Some("fr")));
        assert_eq!(
            both.as_str(),
            "https://signup.shop.example/?src=counter&lang=fr"
        );
        assert_eq!(
            typed_address(&both),
            "signup.shop.example/?src=counter&lang=fr"
        );
    }

    #[test]
    fn a_source_that_is_not_a_slug_is_named_as_the_problem() {
        let query = QrQuery {
            src: Some("Front Counter".into()),
            ..QrQuery::default()
        };
        assert!(query.choice().err().unwrap().starts_with("Source:"));
    }
}
