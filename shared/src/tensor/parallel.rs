//! Coarse-grained parallelism over independent pieces of one operation (the GEMMs of an
//! encrypted product, the planes of a tensor): on rayon's threads with the `parallel` feature,
//! one after the other without it (wasm32).

/// Runs `a` and `b`, possibly at the same time.
pub(crate) fn join<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    #[cfg(feature = "parallel")]
    return rayon::join(a, b);
    #[cfg(not(feature = "parallel"))]
    (a(), b())
}

/// `f` of every item, possibly at the same time, in the items' order.
pub(crate) fn map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync + Send) -> Vec<U> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        items.par_iter().map(f).collect()
    }
    #[cfg(not(feature = "parallel"))]
    items.iter().map(f).collect()
}

/// Multiply-adds below which the products of one encrypted matrix product run one after the
/// other: waking a second thread costs microseconds (`perf` of `experiment wbc`, batch 32, 64
/// units: futex wake-ups took over a third of the encrypted training), more than such a product
/// takes.
pub(crate) const THREADED_PRODUCT_WORK: usize = 1 << 18;

/// [`join`] when `work` (multiply-adds of each piece) reaches [`THREADED_PRODUCT_WORK`], else
/// `a` then `b` on this thread.
pub(crate) fn join_products<A: Send, B: Send>(
    work: usize,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if work >= THREADED_PRODUCT_WORK {
        join(a, b)
    } else {
        (a(), b())
    }
}

/// [`map`] when `work` (multiply-adds of each item) reaches [`THREADED_PRODUCT_WORK`], else in
/// order on this thread.
pub(crate) fn map_products<T: Sync, U: Send>(
    work: usize,
    items: &[T],
    f: impl Fn(&T) -> U + Sync + Send,
) -> Vec<U> {
    if work >= THREADED_PRODUCT_WORK {
        map(items, f)
    } else {
        items.iter().map(f).collect()
    }
}
