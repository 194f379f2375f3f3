//! The edge: TLS, mutual TLS, bearer tokens and the policy.

mod policy;
mod policy_file;
mod tls;
