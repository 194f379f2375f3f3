//! The edge: TLS, mutual TLS, bearer tokens and the policy.

mod policy;
mod tls;
