#![allow(dead_code)]
pub mod cdp;
pub mod certs;
pub mod cli;
pub mod gateway;
pub mod upstream;
