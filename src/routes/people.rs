//! `/admin/people` and `/admin/consents.csv`: see [`crate::admin::people`]. Addresses and
//! phone numbers travel in POST bodies only, never in URLs, and are never logged.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;

use super::{AppState, html};
use crate::admin::people::{Lookup, People, current_consents_csv};
use crate::admin::refusal::Refusal;
use crate::consent::ConsentChannel;
use crate::storage::StorageError;
use crate::templates::{PeopleView, erase_confirm_page, people_page};

#[derive(Deserialize, Default)]
pub struct PersonForm {
    #[serde(default)]
    csrf_token: Option<String>,
    /// The lookup: an email address or a phone number.
    #[serde(default)]
    who: String,
    /// The person acted on, by the address the page showed.
    #[serde(default)]
    email: String,
    #[serde(default)]
    channel: String,
    /// The second step of an erasure.
    #[serde(default)]
    confirm: Option<String>,
    /// `delete`: the erasure deletes the person's Clover customers too.
    #[serde(default)]
    clover: Option<String>,
}

fn people(state: &AppState) -> People<'_> {
    People {
        ledger: state.db.consent(),
        statistics: state.db.statistics(),
        submissions: state.db.submissions(),
        keys: &state.consent.keys,
    }
}

/// Why a form about one person was not acted on.
enum NotActed {
    Refused(Refusal),
    NoPerson,
}

impl NotActed {
    fn response(self) -> HttpResponse {
        match self {
            Self::Refused(refusal) => refusal.error_response(),
            Self::NoPerson => bad_request("Name the person by their email address."),
        }
    }
}

/// A form about one person, once its CSRF token is checked, with the person's address as
/// stored.
fn posted_person(
    request: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> Result<(PersonForm, String), NotActed> {
    let form = posted(request, state, body).map_err(NotActed::Refused)?;
    match Lookup::parse(&form.email) {
        Some(Lookup::Email(email)) => Ok((form, email)),
        _ => Err(NotActed::NoPerson),
    }
}

/// The form posted, once its CSRF token is checked; else the refusal.
fn posted(request: &HttpRequest, state: &AppState, body: &[u8]) -> Result<PersonForm, Refusal> {
    let form: PersonForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
    match state
        .admin
        .action_refusal(request, form.csrf_token.as_deref())
    {
        Some(refusal) => Err(refusal),
        None => Ok(form),
    }
}

pub async fn page(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refusal) = state.admin.refusal(&request) {
        return refusal.error_response();
    }
    let csrf = state.admin.csrf_token(&request);
    html(StatusCode::OK, people_page(PeopleView::Empty, &csrf))
}

pub async fn look_up(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let form = match posted(&request, &state, &body) {
        Ok(form) => form,
        Err(refused) => return refused.error_response(),
    };
    let csrf = state.admin.csrf_token(&request);
    let query = form.who.trim();
    let Some(lookup) = Lookup::parse(query) else {
        let page = people_page(PeopleView::Unreadable { query }, &csrf);
        return html(StatusCode::UNPROCESSABLE_ENTITY, page);
    };
    match people(&state).look_up(&lookup).await {
        Ok(found) => html(
            StatusCode::OK,
            people_page(
                PeopleView::Found {
                    query,
                    people: &found,
                },
                &csrf,
            ),
        ),
        Err(error) => unavailable(&error),
    }
}

pub async fn export(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, email) = match posted_person(&request, &state, &body) {
        Ok(posted) => posted,
        Err(answer) => return answer.response(),
    };
    let report = match people(&state).access_report(&email).await {
        Ok(report) => report,
        Err(error) => return unavailable(&error),
    };
    tracing::info!("the merchant exported what is kept about a person");
    let body = serde_json::to_string_pretty(&report).expect("JSON values serialize");
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"person.json\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

pub async fn withdraw(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let form = match posted(&request, &state, &body) {
        Ok(form) => form,
        Err(refused) => return refused.error_response(),
    };
    let (Some(Lookup::Email(email)), Some(channel)) = (
        Lookup::parse(&form.email),
        ConsentChannel::from_stored(&form.channel),
    ) else {
        return bad_request("Name the person by their email address, and the channel.");
    };
    let people = people(&state);
    let said = match people.withdraw(&email, channel, &state.events).await {
        Ok(true) => {
            if channel == ConsentChannel::Email {
                state.withdrawn.add(state.consent.keys.of(&email));
            }
            tracing::info!(
                channel = channel.as_str(),
                "the merchant withdrew a person's consent"
            );
            format!("Their {} consent is withdrawn.", channel.as_str())
        }
        Ok(false) => format!("They had no {} consent to withdraw.", channel.as_str()),
        Err(error) => return unavailable(&error),
    };
    show_done(&request, &state, &people, &email, &said).await
}

pub async fn erase(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (form, email) = match posted_person(&request, &state, &body) {
        Ok(posted) => posted,
        Err(answer) => return answer.response(),
    };
    let people = people(&state);
    let csrf = state.admin.csrf_token(&request);
    let person = match people.person(&email).await {
        Ok(person) => person,
        Err(error) => return unavailable(&error),
    };
    if form.confirm.as_deref() != Some("yes") {
        if let Err(error) = people.viewed(&person).await {
            return unavailable(&error);
        }
        return html(StatusCode::OK, erase_confirm_page(&person, &csrf));
    }
    // In Clover first: the erasure removes what names the customers, and its event says
    // whether Clover's went too.
    let (in_clover, deleted_all) = match form.clover.as_deref() {
        Some("delete") => delete_in_clover(&state, &person.clover_customers()).await,
        _ => (String::new(), false),
    };
    let source = if deleted_all { "admin+clover" } else { "admin" };
    let erased = match people.erase(&email, source).await {
        Ok(erased) => erased,
        Err(error) => return unavailable(&error),
    };
    state.withdrawn.remove(&person.key);
    tracing::info!(
        signups = erased.submissions,
        evidence = erased.evidence,
        "the merchant erased a person"
    );
    let said = format!(
        "Erased: {} signup(s) and the evidence of {} consent event(s). The events themselves stay, without their personal data.{in_clover}",
        erased.submissions, erased.evidence
    );
    html(
        StatusCode::OK,
        people_page(
            PeopleView::Done {
                said: &said,
                people: &[],
            },
            &csrf,
        ),
    )
}

/// Deletes the erased person's Clover customers; says how it went, each one named, and
/// whether every one went.
async fn delete_in_clover(state: &AppState, customers: &[&str]) -> (String, bool) {
    let mut said = String::new();
    let mut all = !customers.is_empty();
    for customer in customers {
        match state.directory.delete(customer).await {
            Ok(()) => {
                tracing::info!(customer = %customer, "the merchant deleted an erased person's Clover customer");
                said.push_str(&format!(" Clover customer {customer} is deleted."));
            }
            Err(error) => {
                all = false;
                tracing::warn!(customer = %customer, %error, "Clover did not delete an erased person's customer");
                said.push_str(&format!(
                    " Clover did not delete customer {customer} ({error}): delete it in the Clover dashboard."
                ));
            }
        }
    }
    (said, all)
}

/// The page after an action: what was done, and the person as they are now.
async fn show_done(
    request: &HttpRequest,
    state: &AppState,
    people: &People<'_>,
    email: &str,
    said: &str,
) -> HttpResponse {
    let csrf = state.admin.csrf_token(request);
    match people.person(email).await {
        Ok(person) => html(
            StatusCode::OK,
            people_page(
                PeopleView::Done {
                    said,
                    people: std::slice::from_ref(&person),
                },
                &csrf,
            ),
        ),
        Err(error) => unavailable(&error),
    }
}

pub async fn consents_csv(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refusal) = state.admin.refusal(&request) {
        return refusal.error_response();
    }
    let events = match state.db.consent().every_event().await {
        Ok(events) => events,
        Err(error) => return unavailable(&error),
    };
    tracing::info!("the merchant exported the current consents");
    // The byte order mark makes Excel read the file as UTF-8, accents and all.
    let body = format!("\u{feff}{}", current_consents_csv(&events, &state.links));
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"consents.csv\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

fn bad_request(message: &'static str) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("text/plain; charset=utf-8")
        .body(message)
}

fn unavailable(error: &StorageError) -> HttpResponse {
    tracing::warn!(%error, "the people pages could not reach the database");
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::RETRY_AFTER, 5))
        .body("The database does not answer; try again in a moment.")
}
