#![allow(dead_code)]
pub mod certs;
pub mod cli;
pub mod exchange;
pub mod gateway;
pub mod python;
pub mod upstream;
