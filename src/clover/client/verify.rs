//! Checking a candidate credential before it is kept, with what delivery itself does.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::{CloverClient, EXPAND, Request, parse};
use crate::clover::wire::{CustomerList, CustomerResponse, ErrorBody, MerchantResponse};
use crate::clover::{Access, CloverError, MissingPermission};

/// Clover lists the fields a collection can be filtered on in this header.
const ALLOWED_FILTER_FIELDS: &str = "x-clover-allowed-filter-fields";

/// What checking a credential found, beyond "it can search customers".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    /// The merchant's name, when the token may read it (Merchant read, which delivery
    /// does not need): shown as a courtesy only.
    pub merchant_name: Option<String>,
    /// Whether the customer returned came with its email addresses; `None` when the
    /// merchant has no customer yet to tell by.
    pub email_addresses_readable: Option<bool>,
    /// The fields Clover says customers can be filtered on, when it says.
    pub filter_fields: Option<Vec<String>>,
}

impl CloverClient {
    /// Checks a candidate credential before it is kept, with what delivery itself does: a
    /// customers search with the worker's expansions, which needs Customers read and shows
    /// whether email addresses can be read. Writing cannot be checked without writing. The
    /// merchant's name is read as a courtesy, when the token may.
    pub async fn verify(&self, candidate: &Access) -> Result<Verification, CloverError> {
        let search = Request {
            path: &["customers"],
            query: &[("limit", "1"), ("expand", EXPAND)],
            send_by: None,
        };
        let response = self.send_checked(candidate, &search).await?;
        let filter_fields = filter_fields(response.headers());
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let list = match status {
            s if s.is_success() => parse::<CustomerList>(&body)?,
            StatusCode::UNAUTHORIZED => return Err(CloverError::Unauthorized),
            StatusCode::FORBIDDEN => {
                return Err(CloverError::MissingPermission(
                    MissingPermission::ReadEmailAddresses,
                ));
            }
            s => return Err(refusal(s, &body)),
        };
        let email_addresses_readable = list.elements.first().map(CustomerResponse::emails_returned);
        if email_addresses_readable == Some(false) {
            return Err(CloverError::MissingPermission(
                MissingPermission::ReadEmailAddresses,
            ));
        }
        Ok(Verification {
            merchant_name: self.merchant_name(candidate).await,
            email_addresses_readable,
            filter_fields,
        })
    }

    /// The merchant's name, if the candidate may read it and it is not blank.
    async fn merchant_name(&self, candidate: &Access) -> Option<String> {
        let merchant = Request {
            path: &[],
            query: &[],
            send_by: None,
        };
        match self.send_checked(candidate, &merchant).await {
            Ok(response) if response.status().is_success() => response
                .bytes()
                .await
                .ok()
                .and_then(|body| serde_json::from_slice::<MerchantResponse>(&body).ok())
                .and_then(|merchant| merchant.name)
                .filter(|name| !name.trim().is_empty()),
            _ => None,
        }
    }
}

/// The fields Clover says customers can be filtered on, if it says.
fn filter_fields(headers: &HeaderMap) -> Option<Vec<String>> {
    headers
        .get(ALLOWED_FILTER_FIELDS)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(',')
                .map(|field| field.trim().to_owned())
                .filter(|field| !field.is_empty())
                .collect()
        })
}

/// A refused check: what Clover said, without the request.
fn refusal(status: StatusCode, body: &[u8]) -> CloverError {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return CloverError::unavailable(format!("Clover answered {status}"));
    }
    CloverError::Rejected {
        status: status.as_u16(),
        message: ErrorBody::describe(body),
    }
}
