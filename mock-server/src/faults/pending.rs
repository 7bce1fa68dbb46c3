//! Folders listed as `PENDING` for a while (reference §8.8: "non-AVAILABLE folders are seen
//! briefly"; rclone's `FindLeaf` sleeps a second on one and treats it as not found).
//!
//! With the `pending_folder_ms` setting, a folder created through the API is listed (in
//! searches and children listings whose filter does not test `status`) as `PENDING` from the
//! moment its listing lag ends until a further lag drawn from that range has passed; then as
//! `AVAILABLE`. `GET nodes/{id}` always shows its stored status, `AVAILABLE`.

use std::collections::HashMap;
use std::sync::Mutex;

/// The folders listed as `PENDING`, each until a time (epoch ms).
#[derive(Debug, Default)]
pub struct PendingFolders {
    until: Mutex<HashMap<String, i64>>,
}

impl PendingFolders {
    /// Lists folder `id` as `PENDING` until `until_ms` (epoch ms).
    pub fn add(&self, id: &str, until_ms: i64) {
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        until.insert(id.to_string(), until_ms);
    }

    /// Whether folder `id` is listed as `PENDING` at `now_ms`; forgets it once it is not.
    pub fn is_pending(&self, id: &str, now_ms: i64) -> bool {
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        match until.get(id) {
            Some(&end) if now_ms < end => true,
            Some(_) => {
                until.remove(id);
                false
            }
            None => false,
        }
    }

    /// Whether any folder may still be listed as `PENDING` (a cheap test before a page is
    /// looked at); drops those whose time has passed.
    pub fn any(&self, now_ms: i64) -> bool {
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        until.retain(|_, end| now_ms < *end);
        !until.is_empty()
    }

    /// Forgets every folder (an account reset or a settings change).
    pub fn clear(&self) {
        self.until.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
