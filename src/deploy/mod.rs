//! The steps of `onyx up` as library code.

pub mod pipeline;
