#![allow(dead_code)]
pub mod certs;
pub mod gateway;
pub mod upstream;
