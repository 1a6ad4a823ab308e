//! Shared copies of values that repeat across the bulk summaries (alert texts, their
//! combinations, odd timestamps), each stored once and referred to by a 4-byte number.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

/// A number standing for a value in an [`Interned`] table; [`Id::NONE`] for an absent one.
/// 4 bytes instead of 16 for a shared pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Id(u32);

impl Id {
    /// No value.
    pub const NONE: Id = Id(u32::MAX);
}

impl Default for Id {
    fn default() -> Self {
        Id::NONE
    }
}

/// One shared copy of each distinct value, numbered in order of first appearance.
pub struct Interned<T: ?Sized> {
    ids: HashMap<Arc<T>, Id>,
    values: Vec<Arc<T>>,
}

impl<T: ?Sized> Default for Interned<T> {
    fn default() -> Self {
        Self {
            ids: HashMap::new(),
            values: Vec::new(),
        }
    }
}

impl<T: ?Sized> fmt::Debug for Interned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interned")
            .field("values", &self.values.len())
            .finish()
    }
}

impl<T: ?Sized + Hash + Eq> Interned<T> {
    /// The number of `value`, adding it when new.
    pub fn id<Q: Borrow<T> + Into<Arc<T>>>(&mut self, value: Q) -> Id {
        if let Some(id) = self.ids.get(value.borrow()) {
            return *id;
        }
        match u32::try_from(self.values.len()) {
            Ok(n) if n < u32::MAX => {
                let shared: Arc<T> = value.into();
                self.values.push(Arc::clone(&shared));
                self.ids.insert(shared, Id(n));
                Id(n)
            }
            // Four billion distinct values: unreachable in practice; the value is dropped.
            _ => Id::NONE,
        }
    }

    /// The number of `value` when present, [`Id::NONE`] when absent.
    pub fn opt<Q: Borrow<T> + Into<Arc<T>>>(&mut self, value: Option<Q>) -> Id {
        value.map_or(Id::NONE, |v| self.id(v))
    }

    /// The value numbered `id`.
    pub fn get(&self, id: Id) -> Option<&T> {
        self.values.get(id.0 as usize).map(|v| &**v)
    }

    /// Distinct values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// No value yet.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_number() {
        let mut texts: Interned<str> = Interned::default();
        let a = texts.id("a".to_string());
        let b = texts.id("b".to_string());
        assert_ne!(a, b);
        assert_eq!(texts.id("a".to_string()), a);
        assert_eq!(texts.len(), 2);
        assert_eq!(texts.get(a), Some("a"));
        assert_eq!(texts.get(Id::NONE), None);
        assert_eq!(texts.opt(None::<String>), Id::NONE);
    }
}
