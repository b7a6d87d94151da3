//! Where xsafe keeps its files, resolved from flags, `XSAFE_*` variables and
//! the platform's directories, in that order.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use xsafe_store::Store;

use crate::cli::Global;

impl Global {
    /// The run store: `--db`, `XSAFE_DB`, or `xsafe.db` in the platform's
    /// data directory.
    pub fn db_path(&self) -> Result<PathBuf> {
        if let Some(p) = &self.db {
            return Ok(p.clone());
        }
        let dir = dirs::data_dir()
            .context("cannot find the platform's data directory; pass --db PATH or set XSAFE_DB")?;
        Ok(dir.join("xsafe").join("xsafe.db"))
    }

    /// Fetched suites and models: `--cache-dir`, `XSAFE_CACHE_DIR`, or the
    /// platform's cache directory.
    pub fn cache_dir(&self) -> Result<PathBuf> {
        if let Some(p) = &self.cache_dir {
            return Ok(p.clone());
        }
        let dir = dirs::cache_dir().context(
            "cannot find the platform's cache directory; pass --cache-dir PATH or set XSAFE_CACHE_DIR",
        )?;
        Ok(dir.join("xsafe"))
    }

    pub fn open_store(&self) -> Result<Arc<Store>> {
        let path = self.db_path()?;
        // Every error of Store::open names the file (or its folder).
        Ok(Arc::new(Store::open(&path)?))
    }
}
