//! Shared helpers for integration tests. Each test binary uses a different
//! subset, so unused items are expected.
#![allow(dead_code)]

pub mod certs;
