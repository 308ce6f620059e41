//! How a sync reaches a store: directly, or behind a lock taken only for one step, so a phone
//! app keeps reading and writing while a sync waits on the network.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::store::Store;

/// A store a sync step can borrow for the duration of one call.
pub trait StoreAccess {
    /// Runs `f` on the store (locked, if it is behind a lock, only while `f` runs).
    fn with_store<T>(&mut self, f: impl FnOnce(&mut Store) -> T) -> T;
}

impl StoreAccess for Store {
    fn with_store<T>(&mut self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(self)
    }
}

impl<S: StoreAccess + ?Sized> StoreAccess for &mut S {
    fn with_store<T>(&mut self, f: impl FnOnce(&mut Store) -> T) -> T {
        (**self).with_store(f)
    }
}

/// Locks a store, recovering from a panic in another thread: every write is one SQLite
/// transaction that rolled back, so the store itself is consistent.
pub fn lock_store(m: &Mutex<Store>) -> MutexGuard<'_, Store> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl StoreAccess for &Mutex<Store> {
    fn with_store<T>(&mut self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut lock_store(self))
    }
}

impl StoreAccess for Arc<Mutex<Store>> {
    fn with_store<T>(&mut self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut lock_store(self))
    }
}

impl StoreAccess for Rc<RefCell<Store>> {
    fn with_store<T>(&mut self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.borrow_mut())
    }
}
