//! YAML store (placeholder until the real one lands).
use super::{Store, StoreError};
use crate::tree::{Branch, Value};

/// YAML store.
pub struct YamlStore;
impl YamlStore {
    /// New store with the given indent.
    pub fn new(_indent: Option<usize>) -> Self {
        YamlStore
    }
}
impl Store for YamlStore {
    fn load_plain(&self, _: &[u8]) -> Result<Vec<Branch>, StoreError> {
        Err(StoreError::new("yaml: not yet"))
    }
    fn load_encrypted(&self, _: &[u8]) -> Result<(Vec<Branch>, Option<Branch>), StoreError> {
        Err(StoreError::new("yaml: not yet"))
    }
    fn emit_plain(&self, _: &[Branch]) -> Result<Vec<u8>, StoreError> {
        Err(StoreError::new("yaml: not yet"))
    }
    fn emit_encrypted(&self, _: &[Branch], _: &Branch) -> Result<Vec<u8>, StoreError> {
        Err(StoreError::new("yaml: not yet"))
    }
    fn emit_value(&self, _: &Value) -> Result<Vec<u8>, StoreError> {
        Err(StoreError::new("yaml: not yet"))
    }
}
