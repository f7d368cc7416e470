//! `onyx`: one command for the Onyx AI-chat stack, on a laptop or on any Kubernetes cluster.
//!
//! The library is the product; `main.rs` only parses flags, sets up logging and maps errors to
//! exit codes. The flow of a command is: raw flags ([`cli`]) → the command's settings
//! ([`settings`]: flags > env > config file > defaults) → host facts ([`host`]) → a sized
//! [`stack::profile::Profile`] → the rendered Kubernetes objects ([`stack::render`]) → output
//! ([`ui`]). `onyx up`'s steps (plan, target,
//! images, apply, wait, expose) are [`deploy`]'s functions; README's "Layout" maps the folders.

pub mod backup;
pub mod browser;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod deploy;
pub mod docker;
pub mod doctor;
pub mod doctor_run;
pub mod doctor_workers;
pub mod env_vars;
pub mod error;
pub mod exit;
pub mod host;
pub mod http;
pub mod kube;
pub mod llm;
pub mod runtime;
pub mod settings;
pub mod sizing;
pub mod stack;
pub mod text;
pub mod ui;
pub mod update;
pub mod upgrade;

pub use error::{Error, Result};

/// Pick rustls' crypto provider for the whole process, once, before any TLS client exists.
///
/// Only `ring` is linked (Cargo.toml keeps the updater's HTTP client from bringing `aws-lc-rs`),
/// so rustls would pick it anyway; installing it explicitly keeps that true should a dependency
/// ever link a second provider, in which case rustls would refuse to guess.
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
