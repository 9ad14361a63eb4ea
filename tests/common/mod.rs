#![allow(dead_code)]
pub mod cdp;
pub mod certs;
pub mod cli;
pub mod exchange;
pub mod egress;
pub mod gateway;
pub mod python;
pub mod upstream;
