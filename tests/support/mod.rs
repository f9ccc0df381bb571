#![allow(dead_code)]

pub mod fake_clover;
pub mod postgres;
