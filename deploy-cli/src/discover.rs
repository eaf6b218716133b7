//! Finding `deploy.toml`: an explicit `--config` (or `DEPLOY_CONFIG`), else
//! the nearest `deploy.toml` in the working directory or above.

use std::path::{Path, PathBuf};

/// The file name looked for.
pub(crate) const CONFIG_NAME: &str = "deploy.toml";

pub(crate) fn find_config(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(format!("config file {} does not exist", path.display()))
        };
    }
    let start =
        std::env::current_dir().map_err(|e| format!("cannot read the working directory: {e}"))?;
    let mut dir: Option<&Path> = Some(&start);
    while let Some(here) = dir {
        let candidate = here.join(CONFIG_NAME);
        if candidate.is_file() {
            return Ok(relative_to(&candidate, &start));
        }
        dir = here.parent();
    }
    Err(format!(
        "no {CONFIG_NAME} in {} or any directory above it (pass --config FILE or set DEPLOY_CONFIG)",
        start.display()
    ))
}

/// `path` relative to `base` when it is inside it (shorter error locations).
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}
