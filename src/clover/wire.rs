//! Clover's JSON, private to this module. Strict in what we send (camelCase, nested contact
//! objects, only documented keys); tolerant in what we read (nested collections arrive
//! either wrapped in `{"elements": [...]}` or as bare arrays).

use serde::{Deserialize, Serialize};

use super::{CustomerDraft, ExistingCustomer};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateCustomerRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<&'a str>,
    email_addresses: Vec<EmailAddressBody<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    phone_numbers: Vec<PhoneNumberBody<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    addresses: Vec<AddressBody<'a>>,
    metadata: MetadataBody<'a>,
    customer_since: i64,
}

impl<'a> From<&'a CustomerDraft> for CreateCustomerRequest<'a> {
    fn from(draft: &'a CustomerDraft) -> Self {
        Self {
            first_name: draft.first_name.as_deref(),
            last_name: draft.last_name.as_deref(),
            email_addresses: vec![EmailAddressBody {
                email_address: &draft.email,
            }],
            phone_numbers: draft
                .phone
                .as_deref()
                .map(|phone_number| PhoneNumberBody { phone_number })
                .into_iter()
                .collect(),
            addresses: draft
                .address
                .as_ref()
                .map(|address| AddressBody {
                    address1: &address.address1,
                    address2: address.address2.as_deref(),
                    city: &address.city,
                    state: &address.state,
                    zip: &address.zip,
                    country: &address.country,
                })
                .into_iter()
                .collect(),
            metadata: MetadataBody {
                note: &draft.note,
                dob_day: draft.birthday.map(|b| b.day),
                dob_month: draft.birthday.map(|b| b.month),
                dob_year: draft.birthday.and_then(|b| b.year),
            },
            customer_since: draft.customer_since,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmailAddressBody<'a> {
    email_address: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PhoneNumberBody<'a> {
    pub phone_number: &'a str,
}

#[derive(Serialize)]
struct AddressBody<'a> {
    address1: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    address2: Option<&'a str>,
    city: &'a str,
    state: &'a str,
    zip: &'a str,
    country: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MetadataBody<'a> {
    note: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dob_day: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dob_month: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dob_year: Option<u16>,
}

/// `POST /customers/{id}/metadata` with the note alone. Whether Clover replaces a whole
/// note is not published, so it is only ever sent to a customer without one.
#[derive(Serialize)]
pub(super) struct NoteBody<'a> {
    pub note: &'a str,
}

/// `POST /customers/{id}` overwrites only the fields present.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateNamesRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<&'a str>,
}

/// `GET /v3/merchants/{mId}`, read only for the name.
#[derive(Deserialize)]
pub(super) struct MerchantResponse {
    pub name: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct CustomerList {
    #[serde(default)]
    pub elements: Vec<CustomerResponse>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CustomerResponse {
    pub id: String,
    first_name: Option<String>,
    last_name: Option<String>,
    email_addresses: Option<Collection<EmailAddressResponse>>,
    phone_numbers: Option<Collection<PhoneNumberResponse>>,
    metadata: Option<MetadataResponse>,
    customer_since: Option<i64>,
    /// Set on a customer the merchant deleted: Clover filters on it, so a search may
    /// still return one.
    deleted_time: Option<i64>,
}

impl CustomerResponse {
    /// Whether the merchant deleted this customer.
    pub fn is_deleted(&self) -> bool {
        self.deleted_time.is_some_and(|time| time > 0)
    }

    /// Whether the email addresses asked for came back. Without the field-level permission
    /// (Europe) Clover leaves them out, or answers only with a link to them.
    pub fn emails_returned(&self) -> bool {
        self.email_addresses
            .as_ref()
            .is_some_and(Collection::is_expanded)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Collection<T> {
    /// `{"elements": [...]}` when expanded; `{"href": "..."}` when not.
    Wrapped {
        elements: Option<Vec<T>>,
    },
    Bare(Vec<T>),
}

impl<T> Collection<T> {
    fn is_expanded(&self) -> bool {
        match self {
            Collection::Wrapped { elements } => elements.is_some(),
            Collection::Bare(_) => true,
        }
    }

    fn into_vec(self) -> Vec<T> {
        match self {
            Collection::Wrapped { elements } => elements.unwrap_or_default(),
            Collection::Bare(items) => items,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmailAddressResponse {
    email_address: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneNumberResponse {
    phone_number: Option<String>,
}

#[derive(Deserialize)]
struct MetadataResponse {
    note: Option<String>,
    /// Present when Clover answers with a link instead of the metadata itself.
    href: Option<String>,
}

impl From<CustomerResponse> for ExistingCustomer {
    fn from(customer: CustomerResponse) -> Self {
        let non_empty = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        let metadata_read = customer.metadata.as_ref().is_some_and(|m| m.href.is_none());
        Self {
            id: customer.id,
            first_name: non_empty(customer.first_name),
            last_name: non_empty(customer.last_name),
            emails: customer
                .email_addresses
                .map(Collection::into_vec)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|e| e.email_address)
                .collect(),
            phones: customer
                .phone_numbers
                .map(Collection::into_vec)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.phone_number)
                .collect(),
            note: non_empty(customer.metadata.and_then(|m| m.note)),
            metadata_read,
            customer_since: customer.customer_since,
        }
    }
}

/// Clover's error body: `{"message": "...", "details": "..."}`, sometimes neither.
#[derive(Deserialize)]
pub(super) struct ErrorBody {
    message: Option<String>,
    details: Option<String>,
}

impl ErrorBody {
    /// The most useful words in an error answer, bounded so a huge body cannot flood the
    /// database.
    pub fn describe(body: &[u8]) -> String {
        const MAX_CHARS: usize = 300;
        let text = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(ErrorBody {
                message: Some(message),
                details: Some(details),
            }) => format!("{message}: {details}"),
            Ok(ErrorBody {
                message: Some(text),
                ..
            })
            | Ok(ErrorBody {
                details: Some(text),
                ..
            }) => text,
            _ => String::from_utf8_lossy(body).into_owned(),
        };
        text.chars().take(MAX_CHARS).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Birthday, PostalAddress};

    fn parse(json: &str) -> ExistingCustomer {
        serde_json::from_str::<CustomerResponse>(json)
            .unwrap()
            .into()
    }

    #[test]
    fn wrapped_and_bare_collections_are_both_read() {
        let wrapped = parse(
            r#"{"id":"A","emailAddresses":{"elements":[{"id":"E","emailAddress":"a@b.co"}]}}"#,
        );
        let bare = parse(r#"{"id":"A","emailAddresses":[{"emailAddress":"a@b.co"}]}"#);
        assert_eq!(wrapped.emails, ["a@b.co"]);
        assert_eq!(bare.emails, ["a@b.co"]);
    }

    #[test]
    fn unexpanded_collections_read_as_empty() {
        let customer = parse(r#"{"id":"A","phoneNumbers":{"href":"https://x/y"}}"#);
        assert!(customer.phones.is_empty());
    }

    #[test]
    fn hidden_email_addresses_and_deleted_customers_are_told_apart() {
        let read = |json: &str| serde_json::from_str::<CustomerResponse>(json).unwrap();
        assert!(read(r#"{"id":"A","emailAddresses":{"elements":[]}}"#).emails_returned());
        assert!(read(r#"{"id":"A","emailAddresses":[]}"#).emails_returned());
        assert!(!read(r#"{"id":"A","emailAddresses":{"href":"https://x/y"}}"#).emails_returned());
        assert!(!read(r#"{"id":"A","firstName":"Ada"}"#).emails_returned());
        assert!(read(r#"{"id":"A","deletedTime":1718153645000}"#).is_deleted());
        assert!(!read(r#"{"id":"A","deletedTime":null}"#).is_deleted());
        assert!(!read(r#"{"id":"A"}"#).is_deleted());
    }

    #[test]
    fn an_empty_note_is_no_note_and_metadata_not_returned_is_not_read() {
        let empty = parse(r#"{"id":"A","metadata":{"note":"  "}}"#);
        assert_eq!(empty.note, None);
        assert!(empty.metadata_read);
        assert!(!parse(r#"{"id":"A"}"#).metadata_read);
        assert!(!parse(r#"{"id":"A","metadata":{"href":"https://x/y"}}"#).metadata_read);
    }

    #[test]
    fn the_create_body_nests_contacts_and_omits_what_is_absent() {
        let draft = CustomerDraft {
            first_name: Some("Ada".into()),
            last_name: None,
            email: "ada@example.com".into(),
            phone: None,
            birthday: None,
            address: None,
            note: "n".into(),
            customer_since: 1_718_153_645_000,
        };
        let body = serde_json::to_value(CreateCustomerRequest::from(&draft)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "firstName": "Ada",
                "emailAddresses": [{"emailAddress": "ada@example.com"}],
                "metadata": {"note": "n"},
                "customerSince": 1_718_153_645_000_i64,
            })
        );
    }

    #[test]
    fn birthday_and_address_take_clovers_shapes() {
        let draft = CustomerDraft {
            first_name: None,
            last_name: None,
            email: "ada@example.com".into(),
            phone: None,
            birthday: Some(Birthday {
                day: 10,
                month: 12,
                year: None,
            }),
            address: Some(PostalAddress {
                address1: "1 Main St".into(),
                address2: None,
                city: "Sunnyvale".into(),
                state: "CA".into(),
                zip: "94085".into(),
                country: "US".into(),
            }),
            note: "n".into(),
            customer_since: 1,
        };
        let body = serde_json::to_value(CreateCustomerRequest::from(&draft)).unwrap();
        assert_eq!(
            body["addresses"],
            serde_json::json!([{"address1": "1 Main St", "city": "Sunnyvale", "state": "CA",
                                "zip": "94085", "country": "US"}])
        );
        assert_eq!(
            body["metadata"],
            serde_json::json!({"note": "n", "dobDay": 10, "dobMonth": 12})
        );
    }
}
