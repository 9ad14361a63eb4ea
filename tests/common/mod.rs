#![allow(dead_code)]
pub mod certs;
pub mod cli;
pub mod egress;
pub mod gateway;
pub mod upstream;
