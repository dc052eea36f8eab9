//! The event queue: earliest time first, and events due at the same time in the order they
//! were scheduled, so ties never depend on anything but the run itself.
//!
//! The heap holds 24-byte keys; the events themselves (a datagram's buffer and addresses)
//! stay put in a slab, so sifting moves little memory.

use jetstream_core::Instant;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Debug)]
pub(crate) struct EventQueue<E> {
    heap: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
}

impl<E> EventQueue<E> {
    pub(crate) fn new() -> Self {
        EventQueue { heap: BinaryHeap::new(), slots: Vec::new(), free: Vec::new(), seq: 0 }
    }

    pub(crate) fn push(&mut self, at: Instant, event: E) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(event);
                s
            }
            None => {
                self.slots.push(Some(event));
                (self.slots.len() - 1) as u32
            }
        };
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, slot)));
    }

    pub(crate) fn pop(&mut self) -> Option<(Instant, E)> {
        let Reverse((at, _, slot)) = self.heap.pop()?;
        self.free.push(slot);
        let event = self.slots[slot as usize].take()?;
        Some((at, event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_in_scheduling_order() {
        let mut q = EventQueue::new();
        q.push(Instant::from_millis(5), "b");
        q.push(Instant::from_millis(1), "a");
        q.push(Instant::from_millis(5), "c");
        assert_eq!(q.pop(), Some((Instant::from_millis(1), "a")));
        q.push(Instant::from_millis(5), "d");
        let rest: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(rest, ["b", "c", "d"]);
        assert_eq!(q.slots.len(), 3, "slots are reused");
    }
}
