//! Where xsafe keeps its files, resolved from flags, `XSAFE_*` variables and
//! the platform's directories, in that order.

use anyhow::{Context, Result, anyhow};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use xsafe_store::{Store, StoreError};

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

    /// Where [`db_path`](Global::db_path) came from, as messages name it.
    pub fn db_origin(&self) -> DbOrigin {
        match &self.db {
            None => DbOrigin::Default,
            // clap does not say which of the two gave the value; the same
            // path in both is named by the variable.
            Some(path) if std::env::var_os("XSAFE_DB").is_some_and(|v| Path::new(&v) == path) => {
                DbOrigin::Env
            }
            Some(_) => DbOrigin::Flag,
        }
    }

    /// The run store for a command that writes runs (`run`, `tune`):
    /// created, with its folders, when it is not there yet.
    pub fn open_or_create_store(&self) -> Result<Arc<Store>> {
        let path = self.db_path()?;
        // Every error of Store::open names the file (or its folder).
        Ok(Arc::new(Store::open(&path)?))
    }

    /// The run store for a command that reads runs or adds to one:
    /// refused, naming the path and where it came from, when there is no
    /// store there (a mistyped `--db` must not answer with a new, empty
    /// store, nor leave one behind).
    pub fn open_store(&self) -> Result<Arc<Store>> {
        self.existing_store()?
            .ok_or_else(|| anyhow!(self.no_store_message()))
    }

    /// The run store if there is one at the path; `None`, creating
    /// nothing, when there is none.
    pub fn existing_store(&self) -> Result<Option<Arc<Store>>> {
        let path = self.db_path()?;
        match Store::open_existing(&path) {
            Ok(store) => Ok(Some(Arc::new(store))),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Says that there is no run store at the path, and what to check.
    pub fn no_store_message(&self) -> String {
        let path = match self.db_path() {
            Ok(path) => path.display().to_string(),
            Err(e) => return e.to_string(),
        };
        match self.db_origin() {
            DbOrigin::Default => format!(
                "there is no run store at `{path}` (the default path) yet: nothing has been run; \
                 start with `xsafe run`, or pass --db PATH (or set XSAFE_DB) to read a store \
                 elsewhere"
            ),
            origin => format!(
                "there is no run store at `{path}` (given by {}): nothing has been run with this \
                 path yet; check it for a typo (`xsafe run` creates the store)",
                origin.name()
            ),
        }
    }
}

/// Where the run store's path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbOrigin {
    /// `--db PATH`.
    Flag,
    /// The `XSAFE_DB` variable.
    Env,
    /// Neither: the platform's data directory.
    Default,
}

impl DbOrigin {
    /// The flag or variable, as a message names it.
    fn name(self) -> &'static str {
        match self {
            DbOrigin::Flag => "--db",
            DbOrigin::Env => "XSAFE_DB",
            DbOrigin::Default => "the default path",
        }
    }
}
