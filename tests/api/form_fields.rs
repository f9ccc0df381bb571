//! The fields a merchant chooses (`FORM_FIELDS`, `FORM_REQUIRED`), as visitors meet them
//! and as they reach Clover.

use std::time::Duration;

use clover_signup::configuration::Settings;
use serde_json::json;

use crate::helpers::{Config, spawn_app};
use crate::support::fake_clover::FakeClover;

const EVERY_FIELD: &str = "first_name,last_name,email,phone,birthday,address,note";

fn full_signup() -> Vec<(&'static str, &'static str)> {
    vec![
        ("first_name", "Ada"),
        ("last_name", "Lovelace"),
        ("email", "ada@example.com"),
        ("phone", ""),
        ("birthday_day", "10"),
        ("birthday_month", "12"),
        ("birthday_year", ""),
        ("address1", "1 Main St"),
        ("address2", ""),
        ("city", "Sunnyvale"),
        ("state", "CA"),
        ("zip", "94085"),
        ("country", "us"),
        ("note", "Allergic to nuts.\r\nPrefers email."),
    ]
}

#[tokio::test]
async fn birthday_address_and_note_reach_clover_in_its_own_shapes() {
    let fake = FakeClover::start().await;
    let mut config = Config::token(&fake);
    config.set("FORM_FIELDS", EVERY_FIELD);
    let app = spawn_app(&config).await;

    let response = app.post_form(&full_signup()).await;
    assert_eq!(response.status(), 303);
    app.wait_for_delivered(1, Duration::from_secs(10)).await;

    let customers = fake.customers();
    assert_eq!(customers.len(), 1);
    let customer = &customers[0];
    assert_eq!(customer.metadata["dobDay"], 10);
    assert_eq!(customer.metadata["dobMonth"], 12);
    assert!(
        !customer.metadata.contains_key("dobYear"),
        "no year was given"
    );
    let mut address = customer.addresses[0].clone();
    address.remove("id");
    assert_eq!(
        serde_json::Value::Object(address),
        json!({"address1": "1 Main St", "city": "Sunnyvale", "state": "CA",
               "zip": "94085", "country": "US"})
    );
    let note = customer.note.as_deref().unwrap();
    assert!(
        note.starts_with("Allergic to nuts.\nPrefers email.\n\nSigned up through the web"),
        "{note}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_longest_valid_signup_in_any_script_is_accepted() {
    let mut config = Config::demo();
    config.set("FORM_FIELDS", EVERY_FIELD);
    let app = spawn_app(&config).await;
    // Each of these characters is three bytes of UTF-8 and nine once form-encoded.
    let line = "丁".repeat(127);
    let note = "丁".repeat(1_000);
    let name = "丁".repeat(64);
    let form: Vec<(&str, &str)> = full_signup()
        .into_iter()
        .map(|(field, value)| match field {
            "first_name" | "last_name" => (field, name.as_str()),
            "address1" | "address2" | "city" | "state" => (field, line.as_str()),
            "note" => (field, note.as_str()),
            _ => (field, value),
        })
        .collect();

    let response = app.post_form(&form).await;

    assert_eq!(response.status(), 303);
    app.stop().await;
}

#[tokio::test]
async fn the_form_shows_the_chosen_fields_in_the_chosen_order() {
    let mut config = Config::demo();
    config
        .set("FORM_FIELDS", "email,note,birthday,first_name")
        .set("FORM_REQUIRED", "email,birthday");
    let app = spawn_app(&config).await;

    let html = app.get("/").await.text().await.unwrap();

    let position = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("no {needle}"));
    assert!(position(r#"id="email""#) < position(r#"id="note""#));
    assert!(position(r#"id="note""#) < position(r#"id="birthday_day""#));
    assert!(position(r#"id="birthday_day""#) < position(r#"id="first_name""#));
    for absent in [r#"id="last_name""#, r#"id="phone""#, r#"id="address1""#] {
        assert!(!html.contains(absent), "{absent} is not on this form");
    }
    for (id, token) in [
        ("birthday_day", "bday-day"),
        ("birthday_month", "bday-month"),
        ("birthday_year", "bday-year"),
    ] {
        let input = &html[position(&format!(r#"id="{id}""#))..];
        let tag = &input[..input.find('>').unwrap()];
        assert!(tag.contains(&format!(r#"autocomplete="{token}""#)), "{tag}");
        assert!(tag.contains(r#"inputmode="numeric""#), "{tag}");
    }
    // The birthday is a group with a legend; first name is optional and says so.
    assert!(html.contains("<legend>Birthday</legend>"));

    // Errors are listed in the form's order, not a fixed one.
    let response = app.post_form(&[("note", "x\u{7}")]).await;
    let html = response.text().await.unwrap();
    let email = html.find(r##"href="#email""##).unwrap();
    let note = html.find(r##"href="#note""##).unwrap();
    let birthday = html.find(r##"href="#birthday_day""##).unwrap();
    assert!(
        email < note && note < birthday,
        "summary out of the form's order"
    );
    assert!(html.contains(r#"First name<span class="optional"> (optional)</span>"#));
    app.stop().await;
}

#[tokio::test]
async fn wrong_birthdays_and_half_addresses_are_named_beside_their_boxes() {
    let mut config = Config::demo();
    config.set("FORM_FIELDS", EVERY_FIELD);
    let app = spawn_app(&config).await;
    let mut form = full_signup();
    for (name, value) in form.iter_mut() {
        match *name {
            "birthday_day" => *value = "31",
            "birthday_month" => *value = "4",
            "address1" | "state" => *value = "",
            "zip" => *value = "12345678901",
            "country" => *value = "USA",
            _ => {}
        }
    }

    let response = app.post_form(&form).await;

    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    for (id, message) in [
        ("birthday-error", "Enter a real date"),
        ("address1-error", "Enter the first line of your address."),
        ("state-error", "Enter your state, province or region."),
        (
            "zip-error",
            "ZIP or postal code must be at most 10 characters.",
        ),
        (
            "country-error",
            "Enter a two-letter country code, such as US.",
        ),
    ] {
        let at = html
            .find(&format!(r#"id="{id}""#))
            .unwrap_or_else(|| panic!("no {id}"));
        assert!(html[at..].contains(message), "{id}: {message}");
    }
    // Links from the summary go to the first box of the birthday.
    assert!(html.contains(r##"href="#birthday_day""##));
    // What was typed is kept.
    assert!(html.contains(r#"value="12345678901""#));
    assert!(html.contains("Allergic to nuts."));
    app.stop().await;
}

#[tokio::test]
async fn the_json_api_takes_the_same_fields_with_numbers_for_the_birthday() {
    let fake = FakeClover::start().await;
    let mut config = Config::token(&fake);
    config
        .set("FORM_FIELDS", EVERY_FIELD)
        .set("FORM_REQUIRED", "email");
    let app = spawn_app(&config).await;

    let response = app
        .post_json(&json!({
            "email": "grace@example.com",
            "birthday_day": 9,
            "birthday_month": 12,
            "birthday_year": 1906,
            "note": "From the API",
        }))
        .await;
    assert_eq!(response.status(), 202);
    app.wait_for_delivered(1, Duration::from_secs(10)).await;
    let customer = &fake.customers()[0];
    assert_eq!(customer.metadata["dobYear"], 1906);
    assert!(customer.addresses.is_empty());

    let refused = app
        .post_json(&json!({"email": "x@example.com", "birthday_day": 30, "birthday_month": 2}))
        .await;
    assert_eq!(refused.status(), 422);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["errors"]["birthday"][0]
            .as_str()
            .unwrap()
            .contains("real date")
    );
    let negative = app
        .post_json(&json!({"email": "x@example.com", "birthday_day": -3, "birthday_month": 2.5}))
        .await;
    assert_eq!(negative.status(), 422);
    app.stop().await;
}

/// The start-up refusal for a configuration of these variables.
fn refusal(variables: &[(&str, &str)]) -> String {
    Settings::from_lookup(|name| {
        variables
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap_err()
    .to_string()
}

#[test]
fn a_configuration_naming_unknown_or_hidden_fields_is_refused_with_every_problem() {
    let config = [
        ("FORM_FIELDS", "first_name,email,favourite_colour"),
        ("FORM_REQUIRED", "phone"),
        ("ACCENT_COLOR", "green"),
        ("DEFAULT_LANGUAGE", "de"),
        ("LOGO_URL", "logo.png"),
    ];
    let error = refusal(&config);

    assert!(
        error.contains("FORM_FIELDS: unknown field(s) favourite_colour"),
        "{error}"
    );
    assert!(error.contains("ACCENT_COLOR"), "{error}");
    assert!(
        error.contains("DEFAULT_LANGUAGE: expected one of en, es, fr"),
        "{error}"
    );
    assert!(error.contains("LOGO_URL"), "{error}");

    let hidden = [
        ("FORM_FIELDS", "email,first_name"),
        ("FORM_REQUIRED", "phone"),
    ];
    let error = refusal(&hidden);
    assert!(
        error.contains("FORM_REQUIRED: phone not on the form"),
        "{error}"
    );

    let mixed = [
        ("PUBLIC_URL", "https://signup.example.com"),
        ("LOGO_URL", "http://cdn.example.com/logo.png"),
    ];
    let error = refusal(&mixed);
    assert!(
        error.contains("LOGO_URL: expected an https address"),
        "{error}"
    );

    let no_email = [("FORM_FIELDS", "first_name")];
    let error = refusal(&no_email);
    assert!(error.contains("FORM_FIELDS: must include email"), "{error}");
}

#[test]
fn a_text_message_box_needs_the_phone_on_the_form_and_is_never_required() {
    let error = refusal(&[
        ("FORM_FIELDS", "first_name,email,phone,sms_consent"),
        ("FORM_REQUIRED", "email,sms_consent"),
    ]);
    assert!(error.contains("sms_consent cannot be required"), "{error}");
    let error = refusal(&[("FORM_FIELDS", "first_name,email,sms_consent")]);
    assert!(
        error.contains("sms_consent needs phone on the form"),
        "{error}"
    );
}

#[tokio::test]
async fn consent_to_text_messages_is_its_own_box_and_its_own_record() {
    let fake = FakeClover::start().await;
    let mut config = Config::token(&fake);
    config
        .set(
            "FORM_FIELDS",
            "first_name,last_name,email,phone,sms_consent",
        )
        .set("MERCHANT_NAME", "Corner Bakery");
    let app = spawn_app(&config).await;
    let page = app.get("/").await.text().await.unwrap();
    assert!(
        page.contains(r#"<input type="checkbox" id="sms_consent" name="sms_consent" value="on">"#),
        "its own box, not ticked: {page}"
    );
    assert!(
        page.contains("Corner Bakery may send me offers by text message"),
        "{page}"
    );
    assert!(page.contains("Reply STOP to stop"), "{page}");

    let no_phone = [
        ("first_name", "Ada"),
        ("last_name", "Lovelace"),
        ("email", "ada@example.com"),
        ("phone", ""),
        ("sms_consent", "on"),
    ];
    let refused = app.post_form(&no_phone).await;
    assert_eq!(refused.status(), 422);
    let refused = refused.text().await.unwrap();
    assert!(
        refused.contains("To get text messages, enter your phone number"),
        "{refused}"
    );
    assert!(
        refused.contains(r##"href="#sms_consent""##),
        "the summary links the box: {refused}"
    );

    let mut with_phone = no_phone.to_vec();
    with_phone[3] = ("phone", "555 010 2000");
    assert_eq!(app.post_form(&with_phone).await.status(), 303);
    app.wait_for_delivered(1, Duration::from_secs(10)).await;

    app.sign_in().await;
    let found = app
        .admin_post("/admin/people", &[("who", "ada@example.com")])
        .await;
    let found = found.text().await.unwrap();
    assert!(found.contains("given (sms)"), "{found}");
    assert!(
        !found.contains("given (email)"),
        "never implied by the text box: {found}"
    );
    assert!(
        found.contains("Reply STOP to stop"),
        "the words agreed to: {found}"
    );
    app.stop().await;
}
