#![allow(dead_code)]
pub mod certs;
pub mod cli;
pub mod gateway;
pub mod python;
pub mod upstream;
