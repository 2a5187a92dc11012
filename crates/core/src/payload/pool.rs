//! Segment-sized buffers, reused. Every segment is joined from its chunks
//! into one new buffer, and the store evicts an old segment for about every
//! new one. The allocator hands each segment-sized request fresh pages,
//! which the kernel zeroes on first touch: in the native throughput
//! benchmark that zeroing was 6% of all CPU, more than the join's copy
//! itself. A segment's buffer goes back to this pool when its last
//! reference drops (evicted from the store, and the player done with it),
//! and the next join of a similar size writes into it instead.
//!
//! It holds memory, not state: what the engine does never depends on it.

use std::sync::Mutex;

use bytes::Bytes;

/// Joins of at least this many bytes use the pool: segments, not the few
/// bytes a chunk boundary moves.
pub(super) const MIN_POOLED: usize = 256 << 10;

/// Buffers kept at most (a store evicts a few segments at a time).
const MAX_BUFFERS: usize = 4;

/// Capacity kept at most, over all buffers; a larger buffer is freed.
const MAX_POOL_BYTES: usize = 32 << 20;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// An empty buffer with room for `len` bytes: the smallest pooled one that
/// is at most a quarter larger (so a reused buffer wastes little), or a new
/// one.
pub(super) fn take(len: usize) -> Vec<u8> {
    let reused = POOL.lock().ok().and_then(|mut pool| {
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len && b.capacity() - len <= len / 4)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i)?;
        Some(pool.swap_remove(best))
    });
    reused.unwrap_or_else(|| Vec::with_capacity(len))
}

/// `buf` as bytes that return it to the pool when the last reference drops.
pub(super) fn freeze(buf: Vec<u8>) -> Bytes {
    Bytes::from_owner(Recycled(buf))
}

struct Recycled(Vec<u8>);

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.0);
        buf.clear();
        if let Ok(mut pool) = POOL.lock() {
            let held: usize = pool.iter().map(Vec::capacity).sum();
            if pool.len() < MAX_BUFFERS && held + buf.capacity() <= MAX_POOL_BYTES {
                pool.push(buf);
                return;
            }
        }
        // Freed here, after the lock is released.
        drop(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_buffer_is_reused_for_a_join_of_similar_size() {
        // A size no other test joins, so a test running beside this one
        // does not take the buffer first.
        let len = 777_777;
        let mut buf = take(len);
        buf.resize(len, 7);
        let at = buf.as_ptr();
        let bytes = freeze(buf);
        let slice = bytes.slice(10..20);
        drop(bytes);
        // Still referenced: not back in the pool yet.
        let other = take(len);
        assert_ne!(other.as_ptr(), at);
        assert_eq!(slice, [7u8; 10][..]);
        drop(slice);
        let again = take(len - 1000);
        assert_eq!(again.as_ptr(), at);
        assert!(again.is_empty());
        // Too small for it: a new buffer.
        drop(freeze(again));
        let small = take(len / 2);
        assert_ne!(small.as_ptr(), at);
    }
}
