//! HTML pages, written with maud, which escapes everything interpolated: nothing a visitor
//! typed can become markup.

mod admin;
mod layout;
mod pages;
mod signup;

pub use admin::{admin_login_page, admin_page};
pub use layout::{STYLESHEET, Stylesheet};
pub use pages::{error_page, notice_page, thanks_page};
pub use signup::{FormView, signup_page};
