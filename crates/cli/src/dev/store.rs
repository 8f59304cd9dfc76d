//! [`StoreLocation`]: where the dev stack's rendered images end up, as the
//! stack sets it up and the playground reads it back.

use std::path::PathBuf;

/// Where rendered images end up.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    Directory(PathBuf),
    Bucket { endpoint: String, bucket: String },
}
