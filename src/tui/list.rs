//! Scrollable views: [`ListState`] over snapshot lists (selection tracked by key) and
//! [`Stream`], a bounded ring buffer with a filtered view, tail-following and freezing.

use std::collections::VecDeque;

// === Lists ===

/// Selection and filtered view of one snapshot list. Selection follows the item's key (id,
/// name or token), so it survives reordering, insertion and removal.
#[derive(Debug, Clone, Default)]
pub struct ListState {
    /// Indices into the snapshot list that pass the filter, in display order.
    pub view: Vec<usize>,
    /// Position in `view`.
    pub cursor: usize,
    /// Key of the selected item.
    key: Option<String>,
    /// First visible row (set by rendering).
    offset: usize,
}

impl ListState {
    /// Recompute the view from `len` items; keep the selected key if it is still visible.
    pub(crate) fn rebuild<'a>(
        &mut self,
        len: usize,
        keep: impl Fn(usize) -> bool,
        key_of: impl Fn(usize) -> &'a str,
    ) {
        self.view.clear();
        self.view.extend((0..len).filter(|i| keep(*i)));
        let found = self
            .key
            .as_deref()
            .and_then(|k| self.view.iter().position(|i| key_of(*i) == k));
        match found {
            Some(pos) => self.cursor = pos,
            None => {
                self.cursor = self.cursor.min(self.view.len().saturating_sub(1));
                self.key = self.view.get(self.cursor).map(|i| key_of(*i).to_string());
            }
        }
    }

    /// Select the row at `pos` (clamped).
    pub(crate) fn move_to<'a>(&mut self, pos: usize, key_of: impl Fn(usize) -> &'a str) {
        if self.view.is_empty() {
            self.cursor = 0;
            self.key = None;
            return;
        }
        self.cursor = pos.min(self.view.len() - 1);
        self.key = Some(key_of(self.view[self.cursor]).to_string());
    }

    /// The items of rows `offset..offset + height` of the view.
    pub(crate) fn window<'a, T>(
        &'a self,
        items: &'a [T],
        offset: usize,
        height: usize,
    ) -> impl Iterator<Item = &'a T> + 'a {
        self.view
            .iter()
            .skip(offset)
            .take(height)
            .filter_map(|i| items.get(*i))
    }

    /// Index into the snapshot list of the selected item.
    pub fn selected(&self) -> Option<usize> {
        self.view.get(self.cursor).copied()
    }

    /// Scroll so the cursor is visible in `height` rows; returns the first visible row.
    pub(crate) fn scroll(&mut self, height: usize) -> usize {
        let height = height.max(1);
        if self.cursor < self.offset {
            self.offset = self.cursor;
        } else if self.cursor >= self.offset + height {
            self.offset = self.cursor + 1 - height;
        }
        self.offset = self.offset.min(self.view.len().saturating_sub(height));
        self.offset
    }
}

// === Streams ===

/// A bounded ring buffer of items with sequence numbers, a filtered view, a cursor that either
/// follows the tail or stays on one item, and freezing.
#[derive(Debug, Clone)]
pub struct Stream<T> {
    items: VecDeque<T>,
    first_seq: u64,
    cap: usize,
    /// Sequence numbers of items passing the filter, ascending.
    view: VecDeque<u64>,
    pub(crate) follow: bool,
    cursor_seq: Option<u64>,
    offset: usize,
    /// When frozen: only items with a sequence below this are shown.
    frozen_below: Option<u64>,
}

impl<T> Stream<T> {
    pub fn new(cap: usize) -> Self {
        Stream {
            items: VecDeque::with_capacity(cap.min(1024)),
            first_seq: 0,
            cap: cap.max(1),
            view: VecDeque::new(),
            follow: true,
            cursor_seq: None,
            offset: 0,
            frozen_below: None,
        }
    }

    fn next_seq(&self) -> u64 {
        self.first_seq + self.items.len() as u64
    }

    pub fn push(&mut self, item: T, visible: bool) {
        let seq = self.next_seq();
        self.items.push_back(item);
        if visible {
            self.view.push_back(seq);
        }
        while self.items.len() > self.cap {
            self.items.pop_front();
            self.first_seq += 1;
        }
        while self.view.front().is_some_and(|s| *s < self.first_seq) {
            self.view.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn get(&self, seq: u64) -> Option<&T> {
        seq.checked_sub(self.first_seq)
            .and_then(|i| self.items.get(i as usize))
    }

    pub(crate) fn rebuild(&mut self, keep: impl Fn(&T) -> bool) {
        self.view.clear();
        for (i, item) in self.items.iter().enumerate() {
            if keep(item) {
                self.view.push_back(self.first_seq + i as u64);
            }
        }
    }

    /// Number of rows shown (all filtered items, or those before the freeze).
    pub fn visible_len(&self) -> usize {
        match self.frozen_below {
            Some(b) => self.view.partition_point(|s| *s < b),
            None => self.view.len(),
        }
    }

    /// Items arrived (before filtering) since the freeze.
    pub fn missed(&self) -> u64 {
        self.frozen_below
            .map(|b| self.next_seq().saturating_sub(b))
            .unwrap_or(0)
    }

    pub fn frozen(&self) -> bool {
        self.frozen_below.is_some()
    }

    pub(crate) fn toggle_freeze(&mut self) {
        self.frozen_below = match self.frozen_below {
            Some(_) => None,
            None => Some(self.next_seq()),
        };
    }

    /// Cursor position among visible rows.
    pub fn cursor(&self) -> Option<usize> {
        let len = self.visible_len();
        if len == 0 {
            return None;
        }
        if self.follow {
            return Some(len - 1);
        }
        let seq = self.cursor_seq?;
        Some(self.view.partition_point(|s| *s < seq).min(len - 1))
    }

    /// Sequence number of the row at a visible position.
    pub(crate) fn seq_at(&self, pos: usize) -> Option<u64> {
        (pos < self.visible_len()).then(|| self.view[pos])
    }

    pub fn item_at(&self, pos: usize) -> Option<&T> {
        self.seq_at(pos).and_then(|s| self.get(s))
    }

    /// The items of visible rows `offset..offset + height`.
    pub(crate) fn window(&self, offset: usize, height: usize) -> impl Iterator<Item = &T> + '_ {
        (offset..offset + height).filter_map(|pos| self.item_at(pos))
    }

    pub(crate) fn move_by(&mut self, delta: isize) {
        let len = self.visible_len();
        let Some(cur) = self.cursor() else { return };
        let pos = (cur as isize + delta).clamp(0, len as isize - 1) as usize;
        if delta > 0 && pos + 1 >= len {
            self.follow = true;
        } else {
            self.follow = false;
            self.cursor_seq = self.seq_at(pos);
        }
    }

    pub(crate) fn top(&mut self) {
        self.follow = false;
        self.cursor_seq = self.seq_at(0);
    }

    pub(crate) fn bottom(&mut self) {
        self.follow = true;
    }

    /// Move the cursor to `to(cursor, rows)`: at or past either end, to that end (the bottom
    /// follows the tail again).
    pub(crate) fn nav(&mut self, to: &dyn Fn(usize, usize) -> isize) {
        let len = self.visible_len();
        let Some(cur) = self.cursor() else { return };
        let target = to(cur, len);
        if target >= len as isize - 1 {
            self.bottom();
        } else if target <= 0 {
            self.top();
        } else {
            self.move_by(target - cur as isize);
        }
    }

    /// First visible row for `height` rows.
    pub(crate) fn scroll(&mut self, height: usize) -> usize {
        let height = height.max(1);
        let len = self.visible_len();
        let cur = self.cursor().unwrap_or(0);
        if self.follow {
            self.offset = len.saturating_sub(height);
        } else if cur < self.offset {
            self.offset = cur;
        } else if cur >= self.offset + height {
            self.offset = cur + 1 - height;
        }
        self.offset = self.offset.min(len.saturating_sub(height));
        self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_evicts_and_keeps_cursor_valid() {
        let mut s = Stream::new(5);
        for i in 0..5 {
            s.push(i, true);
        }
        s.top();
        assert_eq!(s.item_at(s.cursor().unwrap()), Some(&0));
        for i in 5..8 {
            s.push(i, i % 2 == 0);
        }
        // Items 0..3 evicted; the cursor falls back to the oldest visible row.
        assert_eq!(s.len(), 5);
        assert_eq!(s.visible_len(), 3); // 3, 4, 6
        assert_eq!(s.item_at(s.cursor().unwrap()), Some(&3));
        s.toggle_freeze();
        for i in 8..20 {
            s.push(i, true);
        }
        // Everything from before the freeze is gone: nothing to show, nothing panics.
        assert_eq!(s.visible_len(), 0);
        assert_eq!(s.cursor(), None);
        s.move_by(1);
        s.scroll(10);
        s.toggle_freeze();
        assert_eq!(s.visible_len(), 5);
    }

    #[test]
    fn list_keeps_key_and_clamps() {
        let items = ["a", "b", "c"];
        let mut l = ListState::default();
        l.rebuild(3, |_| true, |i| items[i]);
        l.move_to(2, |i| items[i]);
        let fewer = ["c", "a"];
        l.rebuild(2, |_| true, |i| fewer[i]);
        assert_eq!((l.cursor, l.key.as_deref()), (0, Some("c")));
        l.rebuild(0, |_| true, |i| fewer[i]);
        assert_eq!((l.selected(), l.key.as_deref()), (None, None));
        assert_eq!(l.scroll(10), 0);
    }
}
