//! The event queue: events come out in (time, insertion) order, exactly as
//! from one binary heap, so a seed replays byte for byte.
//!
//! A calendar queue: time is cut into buckets of about a millisecond. Only
//! the bucket being played sits in a heap; the next few seconds wait in
//! unsorted per-bucket vectors and later events in an overflow heap. With
//! ten thousand viewers most events lie a few milliseconds to a few seconds
//! ahead, so the heap that orders them stays small (and in cache) instead of
//! holding hundreds of thousands of entries. The ordering structures hold
//! only keys (time, insertion, slot); the events wait in a slab, so sorting
//! moves 24 bytes, not a whole event.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use p2pml_core::time::Instant;

/// A bucket spans 2^10 µs (about 1 ms).
const BUCKET_SHIFT: u32 = 10;
/// Buckets ahead of the current one (about 4 s).
const WHEEL: u64 = 4096;

/// An item's place in the order, and where it waits in the slab.
struct Entry {
    at: Instant,
    seq: u64,
    slot: usize,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so that `BinaryHeap` yields the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

fn bucket(at: Instant) -> u64 {
    at.as_micros() >> BUCKET_SHIFT
}

/// Items ordered by time, ties in insertion order.
pub(crate) struct EventQueue<T> {
    seq: u64,
    /// Every item in `current` falls in this bucket or an earlier one.
    cur: u64,
    current: BinaryHeap<Entry>,
    /// Items of buckets `cur + 1 .. cur + WHEEL`, at `bucket % WHEEL`.
    wheel: Vec<Vec<Entry>>,
    in_wheel: usize,
    /// Items of bucket `cur + WHEEL` and later.
    overflow: BinaryHeap<Entry>,
    /// The items, by slot; freed slots are reused first.
    slab: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> EventQueue<T> {
    pub(crate) fn new() -> Self {
        Self {
            seq: 0,
            cur: 0,
            current: BinaryHeap::new(),
            wheel: (0..WHEEL).map(|_| Vec::new()).collect(),
            in_wheel: 0,
            overflow: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, at: Instant, item: T) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                if let Some(free) = self.slab.get_mut(slot) {
                    *free = Some(item);
                }
                slot
            }
            None => {
                self.slab.push(Some(item));
                self.slab.len() - 1
            }
        };
        self.place(Entry {
            at,
            seq: self.seq,
            slot,
        });
    }

    fn place(&mut self, entry: Entry) {
        let b = bucket(entry.at);
        if b <= self.cur {
            self.current.push(entry);
        } else if b - self.cur < WHEEL {
            self.in_wheel += 1;
            if let Some(slot) = self.wheel.get_mut(slot_of(b)) {
                slot.push(entry);
            }
        } else {
            self.overflow.push(entry);
        }
    }

    /// The earliest item and its time.
    pub(crate) fn pop(&mut self) -> Option<(Instant, T)> {
        loop {
            if let Some(e) = self.current.pop() {
                let item = self.slab.get_mut(e.slot).and_then(Option::take);
                self.free.push(e.slot);
                // Every entry has its item: slots are filled before entries
                // are placed and emptied only here.
                if let Some(item) = item {
                    return Some((e.at, item));
                }
                continue;
            }
            if !self.advance() {
                return None;
            }
        }
    }

    /// Moves to the next bucket that holds anything; `false` when none does.
    fn advance(&mut self) -> bool {
        let next = if self.in_wheel > 0 {
            (self.cur + 1..self.cur + WHEEL).find(|b| {
                self.wheel
                    .get(slot_of(*b))
                    .is_some_and(|slot| !slot.is_empty())
            })
        } else {
            self.overflow.peek().map(|e| bucket(e.at))
        };
        let Some(next) = next else {
            return false;
        };
        self.cur = next;
        if let Some(slot) = self.wheel.get_mut(slot_of(next)) {
            self.in_wheel -= slot.len();
            // The emptied heap's storage becomes the slot's, for reuse.
            let items = std::mem::take(slot);
            let spent = std::mem::replace(&mut self.current, BinaryHeap::from(items));
            *slot = spent.into_vec();
        }
        while self
            .overflow
            .peek()
            .is_some_and(|e| bucket(e.at) - self.cur < WHEEL)
        {
            if let Some(e) = self.overflow.pop() {
                self.place(e);
            }
        }
        true
    }
}

fn slot_of(bucket: u64) -> usize {
    usize::try_from(bucket % WHEEL).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order of one binary heap on (time, insertion), which the
    /// simulator used before and which reports depend on.
    fn reference(pushes: &[u64]) -> Vec<(u64, usize)> {
        let mut v: Vec<(u64, usize)> = pushes.iter().copied().zip(0..).collect();
        v.sort();
        v
    }

    #[test]
    fn items_come_out_by_time_then_insertion() {
        // Times from the same bucket, neighbouring ones, and far beyond the wheel.
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut times = Vec::new();
        for _ in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            times.push(match rng % 4 {
                0 => rng % 2_000,
                1 => rng % 5_000_000,
                2 => rng % 60_000_000,
                _ => 1_000_000,
            });
        }
        let mut q = EventQueue::new();
        for (i, t) in times.iter().enumerate() {
            q.push(Instant::from_micros(*t), i);
        }
        let mut out = Vec::new();
        while let Some((at, i)) = q.pop() {
            out.push((at.as_micros(), i));
        }
        assert_eq!(out, reference(&times));
    }

    #[test]
    fn items_pushed_while_popping_keep_the_order() {
        // A simulation pushes events at and after the one it plays; a plain
        // heap on (time, insertion) is the reference.
        let mut q = EventQueue::new();
        let mut reference = BinaryHeap::new();
        let mut seq = 0u64;
        let mut push = |q: &mut EventQueue<u64>, r: &mut BinaryHeap<_>, at: Instant| {
            seq += 1;
            q.push(at, seq);
            r.push(std::cmp::Reverse((at, seq)));
        };
        push(&mut q, &mut reference, Instant::ZERO);
        let mut n = 0;
        while let Some((at, i)) = q.pop() {
            let std::cmp::Reverse(expected) = reference.pop().unwrap_or_default();
            assert_eq!((at, i), expected);
            n += 1;
            if n < 5_000 {
                for d in [0, 3, 700, 40_000, 9_000_000] {
                    let later = at + std::time::Duration::from_micros(d * (i % 3 + 1));
                    push(&mut q, &mut reference, later);
                }
            }
        }
        assert!(reference.is_empty());
    }
}
