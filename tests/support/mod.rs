#![allow(dead_code)]

pub mod fake_clover;
pub mod postgres;
pub mod smtp_sink;
pub mod webhook_receiver;
