//! The stream transform in Rust: values, JSON, OCSF normalization.

pub mod avro;
#[cfg(feature = "python")]
pub mod enrich;
pub mod json;
pub mod ocsf;
#[cfg(feature = "python")]
pub mod transform;
pub mod value;
