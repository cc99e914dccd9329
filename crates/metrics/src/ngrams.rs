//! N-gram counting shared by BLEU (word n-grams) and chrF (character and word
//! n-grams). Keys borrow slices of the token vector, so counting allocates
//! only the map itself.

use std::collections::HashMap;
use std::hash::Hash;

/// Counts of n-grams, keyed by the slice of items that forms each one.
pub(crate) type Counts<'a, T> = HashMap<&'a [T], u64>;

/// Counts every window of exactly `n` items (Python's `Counter` over
/// `items[i:i + n]`).
pub(crate) fn count_order<T: Hash + Eq>(items: &[T], n: usize) -> Counts<'_, T> {
    let mut counts = HashMap::new();
    if n == 0 || items.len() < n {
        return counts;
    }
    for window in items.windows(n) {
        *counts.entry(window).or_insert(0) += 1;
    }
    counts
}

/// Counts every window of `1..=max_order` items in one map; the slice length
/// tells the order apart.
pub(crate) fn count_all_orders<T: Hash + Eq>(items: &[T], max_order: usize) -> Counts<'_, T> {
    let mut counts = HashMap::new();
    for n in 1..=max_order.min(items.len()) {
        for window in items.windows(n) {
            *counts.entry(window).or_insert(0) += 1;
        }
    }
    counts
}

/// Sum over `hyp` n-grams of `min(hyp count, ref count)`: the clipped matches.
pub(crate) fn clipped_matches<T: Hash + Eq>(hyp: &Counts<'_, T>, reference: &Counts<'_, T>) -> u64 {
    hyp.iter()
        .filter_map(|(gram, &count)| reference.get(gram).map(|&r| count.min(r)))
        .sum()
}
