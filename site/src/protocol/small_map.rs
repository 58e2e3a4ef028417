//! [`SmallMap`]: a map kept as a vector sorted by key, the smallest footprint for the few
//! entries one site holds (see `state.rs` for why that matters at 100,000 sites).

/// A map kept as a vector sorted by key: the smallest footprint for the few entries a site
/// holds, with O(log n) lookups. Inserting shifts entries (O(n)), cheap at these sizes.
#[derive(Debug)]
pub(super) struct SmallMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap(Vec::new())
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    fn find(&self, key: &K) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.cmp(key))
    }

    pub(super) fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    pub(super) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.find(key).ok().map(|i| &mut self.0[i].1)
    }

    pub(super) fn insert(&mut self, key: K, value: V) {
        match self.find(&key) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => {
                // Most sites hold one to three entries: grow exactly until then, instead of
                // Vec's first step to four.
                if self.0.len() == self.0.capacity() && self.0.len() < 4 {
                    self.0.reserve_exact(1);
                }
                self.0.insert(i, (key, value))
            }
        }
    }

    pub(super) fn remove(&mut self, key: &K) {
        if let Ok(i) = self.find(key) {
            self.0.remove(i);
        }
    }

    /// Entries in key order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &(K, V)> {
        self.0.iter()
    }
}
