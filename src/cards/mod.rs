//! A2A Agent Cards: the v1.0 model (v0.3 normalised into it), requirement
//! evaluation against what the gateway can satisfy, spec-exact JCS + JWS card
//! signatures, and the card the gateway serves to its callers.
//!
//! Pure functions over bytes and values; nothing here touches a socket.

pub mod canonical;
pub(crate) mod dupkeys;
pub mod model;
pub mod parse;
pub mod requirements;
pub mod rewrite;
pub mod serve;
pub mod sign;

#[cfg(test)]
#[path = "spec_examples_tests.rs"]
mod spec_examples_tests;

pub use model::*;
pub use parse::{parse_card, parse_card_value, CardError};
