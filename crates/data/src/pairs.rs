//! Where batches read sentence pairs from: encoded pairs in memory, or a prepared dataset
//! memory-mapped from disk (u16 or u32 ids). Batching sees both through [`PairSource`].

use crate::filter::EncodedPair;

/// The token ids of one side of one pair, as stored: no `<s>`/`</s>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokens<'a> {
    U16(&'a [u16]),
    U32(&'a [u32]),
}

impl<'a> Tokens<'a> {
    pub fn len(&self) -> usize {
        match self {
            Tokens::U16(t) => t.len(),
            Tokens::U32(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = u32> + 'a> {
        match *self {
            Tokens::U16(t) => Box::new(t.iter().map(|&x| u32::from(x))),
            Tokens::U32(t) => Box::new(t.iter().copied()),
        }
    }

    pub fn to_vec(&self) -> Vec<u32> {
        self.iter().collect()
    }
}

/// Sentence pairs by index.
pub trait PairSource: Sync {
    fn num_pairs(&self) -> usize;
    /// `(source, target)` ids of pair `i`; panics if `i` is out of range.
    fn pair(&self, i: usize) -> (Tokens<'_>, Tokens<'_>);
}

impl PairSource for [EncodedPair] {
    fn num_pairs(&self) -> usize {
        self.len()
    }

    fn pair(&self, i: usize) -> (Tokens<'_>, Tokens<'_>) {
        (Tokens::U32(&self[i].src), Tokens::U32(&self[i].tgt))
    }
}

impl PairSource for Vec<EncodedPair> {
    fn num_pairs(&self) -> usize {
        self.len()
    }

    fn pair(&self, i: usize) -> (Tokens<'_>, Tokens<'_>) {
        self.as_slice().pair(i)
    }
}
