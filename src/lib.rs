//! `onyx`: one command for the Onyx AI-chat stack, on a laptop or on any Kubernetes cluster.
//!
//! The library is the product; `main.rs` only parses flags, sets up logging and maps errors to
//! exit codes. The flow of a command is: raw flags ([`cli`]) → [`settings::Settings`] (flags > env >
//! config file > defaults) → host facts ([`host`]) → a sized [`stack::profile::Profile`] → the
//! rendered Kubernetes objects ([`stack::render`]) → output ([`ui`]).

pub mod cli;
pub mod cluster;
pub mod commands;
pub mod docker;
pub mod env_vars;
pub mod error;
pub mod host;
pub mod kube;
pub mod settings;
pub mod stack;
pub mod ui;
pub mod update;

pub use error::{Error, Result};
