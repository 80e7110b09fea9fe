//! Collection names become directory names, so a name must never reach outside the data
//! directory or collide with the platform's special names.

use crate::error::StorageError;

/// Longest accepted name, in bytes (the common file-name limit).
pub const MAX_NAME_BYTES: usize = 255;

/// Accept `name` as a collection name, or say why not.
pub fn validate_collection_name(name: &str) -> Result<(), StorageError> {
    let reason = if name.is_empty() {
        Some("the name is empty")
    } else if name.len() > MAX_NAME_BYTES {
        Some("the name is longer than 255 bytes")
    } else if name.contains(['/', '\\']) {
        Some("the name contains a path separator (`/` or `\\`)")
    } else if name.contains('\0') {
        Some("the name contains a NUL byte")
    } else if name.contains("..") {
        Some("the name contains `..`")
    } else if name == "." {
        Some("the name is `.`")
    } else if name.chars().any(char::is_control) {
        Some("the name contains a control character")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(StorageError::InvalidCollectionName {
            name: name.escape_debug().to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_names_that_escape_or_are_unusable() {
        let long = "a".repeat(256);
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/abs",
            "a\\b",
            "x\0y",
            "..\\..\\etc",
            "a..b",
            "tab\there",
            long.as_str(),
        ] {
            assert!(
                matches!(
                    validate_collection_name(bad),
                    Err(StorageError::InvalidCollectionName { .. })
                ),
                "accepted {bad:?}"
            );
        }
    }

    #[test]
    fn accepts_ordinary_names() {
        let longest = "a".repeat(255);
        for good in [
            "docs",
            "my-collection_2",
            "Ünïcode",
            "a.b",
            ".hidden",
            longest.as_str(),
        ] {
            assert_eq!(validate_collection_name(good), Ok(()), "refused {good:?}");
        }
    }
}
