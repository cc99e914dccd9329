//! Weights packed once per decoding call for the CPU's matrix products.
//!
//! `gemm` lays each `64`-feature panel of a weight out contiguously ("packs" it) at every call
//! where the input has more than a few dozen rows, and with two threads each packs the panels
//! it reads, so both copy the whole weight: 11% of greedy decoding's samples were that copy
//! (`gemm_common::pack_operands::pack_lhs`), repeated at every step for weights that do not
//! change. Inside [`with_packed_weights`] a weight is packed the first time a product on this
//! thread reads it and reused after that; the product then runs as one `gemm` call per
//! (panel, block of rows) on an already packed panel, which `gemm` reads in place.
//!
//! Why a scope and not a field of the layer: Burn modules are updated by value (the optimizer
//! maps every parameter to a new tensor), so a packed copy kept beside a weight would outlive
//! it. Within the scope, the registry holds a handle on every weight it packed, so the weight's
//! buffer can neither be freed and reused for another tensor nor changed in place (Flex only
//! writes in place into a buffer nothing else holds): a weight is known by its buffer's address
//! and its layout, and that key cannot go stale until the scope ends and drops it all.

use std::cell::RefCell;
use std::rc::Rc;

use burn::backend::flex::FlexTensor;

/// Output features per panel: the row count of `gemm`'s AVX-512 f32 microkernel (4 vectors of
/// 16), and a multiple of the AVX2 one's (2 vectors of 8), so no call repacks a whole panel.
const PANEL: usize = 64;

/// Input rows per `gemm` call: at most 48 (`gemm`'s single-thread packing threshold, 8 times
/// its 6-column microkernel), `gemm` reads the packed panel in place instead of packing it.
const ROW_BLOCK: usize = 48;

/// The most packed values the registry keeps (256 MiB of f32): past it a weight takes the plain
/// product, so decoding a large model never holds a second full copy of it.
const MAX_PACKED_VALUES: usize = 64 << 20;

/// One weight, packed: `panels` blocks of `[d_in][PANEL]`, the last one zero-padded.
pub(crate) struct PackedWeight {
    values: Vec<f32>,
    d_in: usize,
    d_out: usize,
}

struct Entry {
    /// Keeps the packed weight's buffer alive and unchanged while the entry exists.
    _weight: FlexTensor,
    key: Key,
    packed: Rc<PackedWeight>,
}

/// A weight's identity while the registry holds it: its buffer's address and its layout.
#[derive(PartialEq, Eq, Clone, Copy)]
struct Key {
    address: usize,
    start: usize,
    rows: usize,
    cols: usize,
    row_stride: isize,
    col_stride: isize,
}

#[derive(Default)]
struct Registry {
    entries: Vec<Entry>,
}

thread_local! {
    /// `Some` inside [`with_packed_weights`] on this thread.
    static REGISTRY: RefCell<Option<Registry>> = const { RefCell::new(None) };
}

/// Runs `work` with weights packed once for this thread's products on the host CPU, and drops
/// the packed copies after it. Decoding a batch (or a file) inside it packs each weight once
/// instead of at every step. Nested calls share the outer scope.
pub fn with_packed_weights<R>(work: impl FnOnce() -> R) -> R {
    if REGISTRY.with(|r| r.borrow().is_some()) {
        return work();
    }
    /// Ends the scope however `work` ends (a panic included).
    struct Scope;
    impl Drop for Scope {
        fn drop(&mut self) {
            REGISTRY.with(|r| r.borrow_mut().take());
        }
    }
    REGISTRY.with(|r| *r.borrow_mut() = Some(Registry::default()));
    let _scope = Scope;
    work()
}

/// The packed form of `w` (`[d_in, d_out]`, f32 on Flex) inside a [`with_packed_weights`]
/// scope on this thread, packed now if it was not yet; `None` outside a scope or once the
/// registry is full.
pub(crate) fn packed(w: &FlexTensor) -> Option<Rc<PackedWeight>> {
    let layout = w.layout();
    let (shape, strides) = (layout.shape(), layout.strides());
    let storage = w.storage::<f32>();
    let key = Key {
        address: storage.as_ptr() as usize,
        start: layout.start_offset(),
        rows: shape[0],
        cols: shape[1],
        row_stride: strides[0],
        col_stride: strides[1],
    };
    REGISTRY.with(|registry| {
        let mut registry = registry.borrow_mut();
        let registry = registry.as_mut()?;
        if let Some(entry) = registry.entries.iter().find(|e| e.key == key) {
            return Some(entry.packed.clone());
        }
        let held: usize = registry.entries.iter().map(|e| e.packed.values.len()).sum();
        if held + key.cols.div_ceil(PANEL) * PANEL * key.rows > MAX_PACKED_VALUES {
            return None;
        }
        let values = pack(&storage[key.start..], key);
        let packed = Rc::new(PackedWeight {
            values,
            d_in: key.rows,
            d_out: key.cols,
        });
        registry.entries.push(Entry {
            _weight: w.clone(),
            key,
            packed: packed.clone(),
        });
        Some(packed)
    })
}

/// `w` (from its first element, with the key's strides) as panels of `PANEL` output features.
fn pack(w: &[f32], key: Key) -> Vec<f32> {
    use rayon::prelude::*;
    let (d_in, d_out) = (key.rows, key.cols);
    let mut values = vec![0.0f32; d_out.div_ceil(PANEL) * PANEL * d_in];
    if values.is_empty() {
        return values;
    }
    let at =
        |k: usize, j: usize| (k as isize * key.row_stride + j as isize * key.col_stride) as usize;
    values
        .par_chunks_mut(d_in * PANEL)
        .enumerate()
        .for_each(|(p, panel)| {
            let first = p * PANEL;
            let width = PANEL.min(d_out - first);
            for (k, row) in panel.chunks_exact_mut(PANEL).enumerate() {
                if key.col_stride == 1 {
                    row[..width].copy_from_slice(&w[at(k, first)..][..width]);
                } else {
                    for (j, value) in row[..width].iter_mut().enumerate() {
                        *value = w[at(k, first + j)];
                    }
                }
            }
        });
    values
}

/// `out[rows, d_out] (+)= x W` with `W` packed: `x` is row-major with row stride `x_rs` (and
/// unit column stride); `out` is row-major `[rows, d_out]`, and holds the bias rows to add to
/// when `add_to_out`, else anything (every element is written). Split across threads by
/// (panel, block of rows) when `parallel`.
///
/// # Safety
/// `x` points to `rows` rows of `w.d_in` values `x_rs` apart, and `out` to room for
/// `rows * w.d_out` values, initialized when `add_to_out`.
pub(crate) unsafe fn product(
    out: *mut f32,
    x: *const f32,
    x_rs: usize,
    rows: usize,
    w: &PackedWeight,
    add_to_out: bool,
    parallel: bool,
) {
    use rayon::prelude::*;
    let panels = w.d_out.div_ceil(PANEL);
    let blocks = rows.div_ceil(ROW_BLOCK);
    let (out, x) = (SharedPtr(out), SharedPtr(x as *mut f32));
    // Panel-major: a thread's tiles share a panel (kept in cache) and walk the rows, so the
    // weight streams from memory once per call.
    let tile = |t: usize| {
        let (p, b) = (t / blocks, t % blocks);
        let (first_row, first_col) = (b * ROW_BLOCK, p * PANEL);
        let (n, m) = (
            ROW_BLOCK.min(rows - first_row),
            PANEL.min(w.d_out - first_col),
        );
        // SAFETY: the tile is rows `first_row..+n`, columns `first_col..+m` of `out` (disjoint
        // across tiles) and rows `first_row..+n` of `x`, within the caller's guarantees; the
        // panel is `[d_in][PANEL]` values of `w`. `gemm` is asked for the transposed product
        // (`out^T = W^T x^T`), the orientation its microkernel reads a packed panel in.
        unsafe {
            gemm::gemm(
                m,
                n,
                w.d_in,
                out.get().add(first_row * w.d_out + first_col),
                w.d_out as isize,
                1,
                add_to_out,
                w.values.as_ptr().add(p * w.d_in * PANEL),
                PANEL as isize,
                1,
                x.get().add(first_row * x_rs),
                x_rs as isize,
                1,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    };
    if parallel {
        (0..panels * blocks).into_par_iter().for_each(tile);
    } else {
        (0..panels * blocks).for_each(tile);
    }
}

/// A raw pointer the tiles share: each writes its own disjoint part (see `product`).
#[derive(Clone, Copy)]
struct SharedPtr(*mut f32);
// SAFETY: the tiles of `product` write disjoint elements and only read `x`.
unsafe impl Send for SharedPtr {}
unsafe impl Sync for SharedPtr {}

impl SharedPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}
