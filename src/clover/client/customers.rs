//! The calls delivery makes: search customers by email, create one, complete one found.

use reqwest::Method;
use tokio::time::Instant;

use super::{CloverClient, EXPAND, Request, parse};
use crate::clover::wire::{
    CreateCustomerRequest, CustomerList, CustomerResponse, NoteBody, PhoneNumberBody,
    UpdateNamesRequest,
};
use crate::clover::{CloverError, CustomerDraft, ExistingCustomer, MissingPermission};

impl CloverClient {
    /// Customers with this email address, the merchant's deleted ones left out. Clover does
    /// not say whether its filter ignores case, and customers typed in at the register
    /// keep the case they were typed with: the address is searched as the visitor typed
    /// it, then, if that finds nobody and it differs, lower-cased.
    pub async fn find_by_email(
        &self,
        email_as_typed: &str,
    ) -> Result<Vec<ExistingCustomer>, CloverError> {
        let found = self.search_email(email_as_typed).await?;
        let lower = email_as_typed.to_lowercase();
        if !found.is_empty() || lower == email_as_typed {
            return Ok(found);
        }
        self.search_email(&lower).await
    }

    async fn search_email(&self, email: &str) -> Result<Vec<ExistingCustomer>, CloverError> {
        let filter = format!("emailAddress={email}");
        let request = Request {
            path: &["customers"],
            query: &[("filter", &filter), ("expand", EXPAND), ("limit", "100")],
            send_by: None,
        };
        let body = self.call::<()>(Method::GET, &request, None).await?;
        let list: CustomerList = parse(&body)?;
        let living: Vec<CustomerResponse> = list
            .elements
            .into_iter()
            .filter(|customer| !customer.is_deleted())
            .collect();
        // Everyone a filter on email returns has an email address: one that comes back
        // without any cannot be compared, and taking it for a stranger would make a
        // duplicate of every signup.
        if living.iter().any(|c| !c.emails_returned()) {
            return Err(self.parked_on(MissingPermission::ReadEmailAddresses));
        }
        if !living.is_empty() {
            self.granted(MissingPermission::ReadEmailAddresses);
        }
        // Whether the filter is exact is not documented either: compare here too.
        Ok(living
            .into_iter()
            .map(ExistingCustomer::from)
            .filter(|customer| {
                customer
                    .emails
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(email))
            })
            .collect())
    }

    /// Creates a customer, if the request can leave by `send_by` (see [`Request`]).
    pub async fn create(
        &self,
        draft: &CustomerDraft,
        send_by: Instant,
    ) -> Result<String, CloverError> {
        let request = Request {
            path: &["customers"],
            query: &[("expand", EXPAND)],
            send_by: Some(send_by),
        };
        let body = CreateCustomerRequest::from(draft);
        let answer = self.call(Method::POST, &request, Some(&body)).await?;
        let created: CustomerResponse = parse(&answer)?;
        Ok(created.id)
    }

    /// Writes the note of a customer that has none (see [`NoteBody`]).
    pub async fn add_note(
        &self,
        customer_id: &str,
        note: &str,
        send_by: Instant,
    ) -> Result<(), CloverError> {
        let request = Request {
            path: &["customers", customer_id, "metadata"],
            query: &[],
            send_by: Some(send_by),
        };
        self.call(Method::POST, &request, Some(&NoteBody { note }))
            .await
            .map(drop)
    }

    pub async fn add_phone(
        &self,
        customer_id: &str,
        phone: &str,
        send_by: Instant,
    ) -> Result<(), CloverError> {
        let request = Request {
            path: &["customers", customer_id, "phone_numbers"],
            query: &[],
            send_by: Some(send_by),
        };
        let body = PhoneNumberBody {
            phone_number: phone,
        };
        self.call(Method::POST, &request, Some(&body))
            .await
            .map(drop)
    }

    /// Deletes a customer, when the merchant erases a person here and in Clover. One
    /// already gone is as good as deleted.
    pub async fn delete(&self, customer_id: &str) -> Result<(), CloverError> {
        let request = Request {
            path: &["customers", customer_id],
            query: &[],
            send_by: None,
        };
        match self.call::<()>(Method::DELETE, &request, None).await {
            Ok(_) | Err(CloverError::Rejected { status: 404, .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    pub async fn set_names(
        &self,
        customer_id: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
        send_by: Instant,
    ) -> Result<(), CloverError> {
        let request = Request {
            path: &["customers", customer_id],
            query: &[],
            send_by: Some(send_by),
        };
        let body = UpdateNamesRequest {
            first_name,
            last_name,
        };
        self.call(Method::POST, &request, Some(&body))
            .await
            .map(drop)
    }
}
