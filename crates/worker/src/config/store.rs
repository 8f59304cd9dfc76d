//! Where images go: exactly one of a Cloud Storage bucket (BUCKET, with
//! STORAGE_EMULATOR_HOST for an emulator) and a local directory
//! (LOCAL_STORE_DIR).

use reqwest::Url;

use mandala_service::config::given;

use super::{Config, ConfigError, bad};

/// Where images go, once the settings are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    Gcs {
        bucket: String,
        /// `http://host:port` of an emulator (anonymous credentials), or Google.
        emulator: Option<String>,
    },
    Local(std::path::PathBuf),
}

impl Config {
    /// The store the settings ask for; exactly one of BUCKET and LOCAL_STORE_DIR.
    pub fn store(&self) -> Result<StoreChoice, ConfigError> {
        let bucket = given(self.bucket.as_deref());
        let dir = self
            .local_store_dir
            .as_ref()
            .filter(|d| !d.as_os_str().is_empty());
        let emulator = given(self.storage_emulator_host.as_deref());
        match (bucket, dir) {
            (Some(_), Some(_)) => Err(bad(
                "BUCKET",
                "set either BUCKET or LOCAL_STORE_DIR, not both",
            )),
            (None, None) => Err(bad(
                "BUCKET",
                "one of BUCKET (Cloud Storage) or LOCAL_STORE_DIR (a local directory) is required",
            )),
            (None, Some(dir)) => {
                if emulator.is_some() {
                    return Err(bad(
                        "STORAGE_EMULATOR_HOST",
                        "only applies with BUCKET, but LOCAL_STORE_DIR is set",
                    ));
                }
                Ok(StoreChoice::Local(dir.clone()))
            }
            (Some(bucket), None) => {
                check_bucket(bucket)?;
                let emulator = emulator.map(parse_emulator).transpose()?;
                Ok(StoreChoice::Gcs {
                    bucket: bucket.to_owned(),
                    emulator,
                })
            }
        }
    }
}

fn check_bucket(bucket: &str) -> Result<(), ConfigError> {
    // Cloud Storage's naming rules, loosely: enough to catch a URL or a path.
    let ok = (3..=222).contains(&bucket.len())
        && bucket.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(bad(
            "BUCKET",
            format!(
                "{bucket:?} is not a bucket name (lowercase letters, digits, - _ .; no gs:// prefix)"
            ),
        ))
    }
}

fn parse_emulator(raw: &str) -> Result<String, ConfigError> {
    // The Go and Python clients accept a bare host:port here; so do we.
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| {
        bad(
            "STORAGE_EMULATOR_HOST",
            format!("{raw:?} is not host:port or a URL: {e}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(
            "STORAGE_EMULATOR_HOST",
            format!("{raw:?} is not an http(s) endpoint"),
        ));
    }
    Ok(with_scheme.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::*;

    #[test]
    fn exactly_one_store() {
        let e = parse(&[]).check().unwrap_err();
        assert_eq!(e.var, "BUCKET");
        let e = parse(&["--bucket", "b1b", "--local-store-dir", "/tmp/x"])
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("not both"), "{e}");
        assert_eq!(
            parse(&[
                "--bucket",
                "renders",
                "--storage-emulator-host",
                "127.0.0.1:9023"
            ])
            .store()
            .unwrap(),
            StoreChoice::Gcs {
                bucket: "renders".into(),
                emulator: Some("http://127.0.0.1:9023".into())
            }
        );
        let e = parse(&["--bucket", "gs://renders"]).check().unwrap_err();
        assert_eq!(e.var, "BUCKET");
        let e = parse(&[
            "--local-store-dir",
            "/tmp/x",
            "--storage-emulator-host",
            "h:1",
        ])
        .check()
        .unwrap_err();
        assert_eq!(e.var, "STORAGE_EMULATOR_HOST");
    }
}
