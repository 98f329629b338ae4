//! dotenv store (placeholder until the real one lands).
use super::{Store, StoreError};
use crate::tree::{Branch, Value};

/// dotenv store.
pub struct DotenvStore;
impl Store for DotenvStore {
    fn load_plain(&self, _: &[u8]) -> Result<Vec<Branch>, StoreError> {
        Err(StoreError::new("dotenv: not yet"))
    }
    fn load_encrypted(&self, _: &[u8]) -> Result<(Vec<Branch>, Option<Branch>), StoreError> {
        Err(StoreError::new("dotenv: not yet"))
    }
    fn emit_plain(&self, _: &[Branch]) -> Result<Vec<u8>, StoreError> {
        Err(StoreError::new("dotenv: not yet"))
    }
    fn emit_encrypted(&self, _: &[Branch], _: &Branch) -> Result<Vec<u8>, StoreError> {
        Err(StoreError::new("dotenv: not yet"))
    }
    fn emit_value(&self, _: &Value) -> Result<Vec<u8>, StoreError> {
        Err(StoreError::new("dotenv: not yet"))
    }
}
