//! The Onyx stack: what it is made of ([`catalog`]), how big each part is on a given machine
//! ([`profile`]), its credentials ([`secrets`]) and the Kubernetes objects that deploy it
//! ([`object`], made by [`render`] and summarised by [`summary`]) and the release they record
//! ([`release`]). Its LLM provider, set through Onyx's API once it runs, is [`crate::llm`]'s.

pub mod catalog;
pub mod connections;
pub mod indexing;
pub mod object;
pub mod plan;
pub mod profile;
pub mod release;
pub mod render;
pub mod secrets;
pub mod summary;

/// The Onyx release the manifests deploy.
pub const ONYX_VERSION: &str = "v2.3.0";
