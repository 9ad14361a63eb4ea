#![allow(dead_code)]
pub mod audit;
pub mod cdp;
pub mod certs;
pub mod cli;
pub mod egress;
pub mod exchange;
pub mod gateway;
pub mod haproxy;
pub mod idp;
pub mod mcp_upstream;
pub mod npm;
pub mod oidc;
pub mod postgres;
pub mod prometheus;
pub mod python;
pub mod replicas;
pub mod upstream;
